"""D1 as a binding kind: one SQLite database per ``storage_key``, shared across Workers."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from cfemu.bindings import NOT_MINE, BindingService, DescribeRow, NotMine, ServiceContext
from cfemu.d1.database import D1Database, database_file, open_database

if TYPE_CHECKING:
    from cfemu.config import D1DatabaseConfig, WorkerConfig

__all__ = ["D1Service"]


class D1Service(BindingService):
    """Every ``[[d1_databases]]`` binding of every Worker.

    Two Workers binding the same ``database_id`` (or name) share one database, opened once.
    """

    kind: ClassVar[str] = "d1"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        #: Open databases by ``storage_key``.
        self.databases: dict[str, D1Database] = {}

    def database(self, db: D1DatabaseConfig) -> D1Database:
        """The database a binding entry names, opened on first use."""
        key = db.storage_key
        found = self.databases.get(key)
        if found is None:
            persist_to = self.ctx.persist_to
            path = None if persist_to is None else database_file(persist_to, key)
            found = open_database(
                path, binding=db.binding, clock=self.ctx.clock, faults=self.ctx.faults
            )
            self.databases[key] = found
        return found

    def bindings_for(self, config: WorkerConfig) -> Mapping[str, object]:
        """One ``D1Database`` per ``[[d1_databases]]`` entry."""
        return {db.binding: self.database(db) for db in config.d1_databases}

    async def aclose(self) -> None:
        """Close every database."""
        for db in self.databases.values():
            db.close()
        self.databases.clear()

    def fault_targets(self, point: str) -> Collection[str] | NotMine | None:
        """``d1.statement`` targets binding names."""
        if point != "d1.statement":
            return NOT_MINE
        return {db.binding for config in self.ctx.configs for db in config.d1_databases}

    def describe(self, config: WorkerConfig) -> list[DescribeRow]:
        """A row per D1 binding."""
        return [
            (f"env.{db.binding} ({db.database_name or db.storage_key})", "D1", "local")
            for db in config.d1_databases
        ]

    def migrations_of(self, config: WorkerConfig, binding: str) -> tuple[D1Database, Path, str]:
        """The database bound as ``binding`` (or named so) in ``config``, its migrations
        folder and migrations table; a ``ConfigError`` naming the bindings otherwise."""
        from cfemu.errors import ConfigError

        for db in config.d1_databases:
            if binding in (db.binding, db.database_name):
                folder = db.migrations_path(config.path.parent)
                return self.database(db), folder, db.migrations_table
        known = ", ".join(db.binding for db in config.d1_databases) or "none"
        raise ConfigError(
            f"no D1 database {binding!r} in Worker {config.name!r}; D1 bindings: {known}",
            file=config.path,
        )
