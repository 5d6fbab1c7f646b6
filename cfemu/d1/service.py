"""D1 as a binding kind: one SQLite database per ``storage_key``, shared across Workers."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from cfemu.bindings import NOT_MINE, BindingService, DescribeRow, NotMine, ServiceContext
from cfemu.d1.database import D1Database, database_file, open_database
from cfemu.state import forget_state_file, opening_state

if TYPE_CHECKING:
    from cfemu.config import D1DatabaseConfig, WorkerConfig

__all__ = ["D1Service", "DatabaseInfo"]

#: Where the databases created through the REST API are listed, under the state folder.
_CATALOGUE_FILE = "databases.json"
_UUID_NAMESPACE = uuid.UUID("6b1d0f4e-2f4a-4e55-9c3e-0c5f1d0e7a11")


@dataclass(frozen=True)
class DatabaseInfo:
    """One D1 database as the REST API lists it."""

    uuid: str
    """The database id: the config's ``database_id``, or one cfemu derives or generates."""
    name: str
    """``database_name`` (or the binding, when the config gives no name)."""
    created_at: str
    """ISO-8601 time the emulator first saw or created the database."""
    storage_key: str
    """What the emulator keys the database's storage by."""
    configured: bool
    """True for a database a Worker's config binds (the API cannot delete it)."""


class D1Service(BindingService):
    """Every ``[[d1_databases]]`` binding of every Worker.

    Two Workers binding the same ``database_id`` (or name) share one database, opened once.
    """

    kind: ClassVar[str] = "d1"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        #: Open databases by ``storage_key``.
        self.databases: dict[str, D1Database] = {}
        self._created: dict[str, DatabaseInfo] = {}
        self._seen_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    async def start(self) -> None:
        """Read the list of databases created through the REST API (persisted state)."""
        self._created = {}
        path = self._catalogue_path()
        if path is None or not path.exists():
            return
        from cfemu.errors import StateError

        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["databases"]
            for entry in entries:
                info = DatabaseInfo(**{**entry, "configured": False})
                self._created[info.uuid] = info
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{path}: unreadable list of D1 databases ({exc})") from None

    def _catalogue_path(self) -> Path | None:
        persist_to = self.ctx.persist_to
        return None if persist_to is None else persist_to / "d1" / _CATALOGUE_FILE

    def _save_catalogue(self) -> None:
        path = self._catalogue_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = [
            {k: v for k, v in asdict(info).items() if k != "configured"}
            for info in self._created.values()
        ]
        temporary = path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"databases": entries}, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    # --- the catalogue the REST API and tools read ---------------------------------------
    def catalogue(self) -> list[DatabaseInfo]:
        """Every database: those the configs bind (once each), then those created by API."""
        found: dict[str, DatabaseInfo] = {}
        for config in self.ctx.configs:
            for db in config.d1_databases:
                key = db.storage_key
                if key in found:
                    continue
                ident = db.database_id or str(uuid.uuid5(_UUID_NAMESPACE, key))
                name = db.database_name or db.binding
                found[key] = DatabaseInfo(ident, name, self._seen_at, key, True)
        listed = list(found.values())
        taken = {info.uuid for info in listed}
        listed += [info for info in self._created.values() if info.uuid not in taken]
        return listed

    def find(self, id_or_name: str) -> DatabaseInfo | None:
        """The database whose uuid, or else name, is ``id_or_name``."""
        infos = self.catalogue()
        for info in infos:
            if info.uuid == id_or_name:
                return info
        return next((info for info in infos if info.name == id_or_name), None)

    def open(self, info: DatabaseInfo) -> D1Database:
        """The (opened on first use) database ``info`` describes."""
        found = self.databases.get(info.storage_key)
        if found is None:
            persist_to = self.ctx.persist_to
            path = None if persist_to is None else database_file(persist_to, info.storage_key)
            found = open_database(
                path, binding=info.name, clock=self.ctx.clock, faults=self.ctx.faults
            )
            self.databases[info.storage_key] = found
        return found

    def create(self, name: str) -> DatabaseInfo:
        """A new, empty database named ``name`` (a ``ValueError`` if the name is taken)."""
        if any(info.name == name for info in self.catalogue()):
            raise ValueError("A database with that name already exists")
        ident = str(uuid.uuid4())
        created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        info = DatabaseInfo(ident, name, created, ident, False)
        self._created[ident] = info
        self._save_catalogue()
        return info

    def delete(self, info: DatabaseInfo) -> None:
        """Delete a database created through the API, and its data."""
        if info.configured:
            raise ValueError(
                f"database {info.name!r} is bound by a Worker of this emulator; remove its "
                f"binding from the config before deleting it"
            )
        db = self.databases.pop(info.storage_key, None)
        if db is not None:
            db.close()
        self._created.pop(info.uuid, None)
        self._save_catalogue()
        persist_to = self.ctx.persist_to
        if persist_to is not None:
            path = database_file(persist_to, info.storage_key)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            forget_state_file(persist_to, path)  # deleted on purpose: not damage

    def database(self, db: D1DatabaseConfig) -> D1Database:
        """The database a binding entry names, opened on first use."""
        key = db.storage_key
        found = self.databases.get(key)
        if found is None:
            persist_to = self.ctx.persist_to
            path = None if persist_to is None else database_file(persist_to, key)
            with opening_state(path or key, f"D1 database {db.binding!r}"):
                found = open_database(
                    path, binding=db.binding, clock=self.ctx.clock, faults=self.ctx.faults
                )
            self.databases[key] = found
        return found

    def bindings_for(self, config: WorkerConfig) -> Mapping[str, object]:
        """One ``D1Database`` per ``[[d1_databases]]`` entry (a ``RemoteD1Database`` for
        ``remote = true``)."""
        found: dict[str, object] = {}
        for db in config.d1_databases:
            if db.remote:
                from cfemu.remote.client import remote_api_for
                from cfemu.remote.d1 import RemoteD1Database

                api = remote_api_for(
                    self.ctx.options,
                    f"D1 binding {db.binding!r} is a remote binding (remote = true)",
                )
                ident = db.database_id or db.database_name or db.binding
                found[db.binding] = RemoteD1Database(api, ident, db.binding)
            else:
                found[db.binding] = self.database(db)
        return found

    async def aclose(self) -> None:
        """Close every database (and the remote bindings' API client)."""
        for db in self.databases.values():
            db.close()
        self.databases.clear()
        from cfemu.remote.client import close_remote_api

        await close_remote_api(self.ctx.options)

    def fault_targets(self, point: str) -> Collection[str] | NotMine | None:
        """``d1.statement`` targets binding names."""
        if point != "d1.statement":
            return NOT_MINE
        return {db.binding for config in self.ctx.configs for db in config.d1_databases}

    def describe(self, config: WorkerConfig) -> list[DescribeRow]:
        """A row per D1 binding."""
        return [
            (
                f"env.{db.binding} ({db.database_name or db.storage_key})",
                "D1",
                "remote" if db.remote else "local",
            )
            for db in config.d1_databases
        ]

    def migrations_of(
        self, config: WorkerConfig, binding: str
    ) -> tuple[D1Database, Path, str, str]:
        """The database bound as ``binding`` (or named so) in ``config``, its migrations
        folder, migrations table and file pattern (relative to the folder); a
        ``ConfigError`` naming the bindings otherwise."""
        from cfemu.errors import ConfigError

        for db in config.d1_databases:
            if binding in (db.binding, db.database_name):
                folder = db.migrations_path(config.path.parent)
                pattern = db.migrations_glob()
                return self.database(db), folder, db.migrations_table, pattern
        known = ", ".join(db.binding for db in config.d1_databases) or "none"
        raise ConfigError(
            f"no D1 database {binding!r} in Worker {config.name!r}; D1 bindings: {known}",
            file=config.path,
        )
