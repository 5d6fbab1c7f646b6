"""D1 migrations, as wrangler runs them locally (spec: d1.md §8).

A migrations folder holds ``NNNN_name.sql`` files, or the files ``migrations_pattern``
names (nested layouts such as ``0001_init/migration.sql``; see :mod:`cfemu.d1.layout`).
They apply in the order of their leading numbers (numbered before unnumbered, ties by
name); each one that is not yet
recorded in the tracking table (``d1_migrations`` unless configured) is applied together
with its record in one transaction, so a migration is either fully applied and recorded or
not at all. The first failure stops the run; the migrations applied before it stay.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from cfemu.d1 import _sql
from cfemu.d1.database import D1Database, statement_for
from cfemu.d1.engine import Engine
from cfemu.d1.layout import DEFAULT_PATTERN, leading_number, list_matching, matches
from cfemu.errors import D1Error, MigrationError
from cfemu.limits import D1_DEFAULT_MIGRATIONS_TABLE

__all__ = [
    "apply_migrations",
    "create_migration",
    "list_migrations",
    "pending_migrations",
]


def list_migrations(migrations_dir: Path | str, pattern: str = DEFAULT_PATTERN) -> list[str]:
    """The migration names of ``migrations_dir`` (paths relative to it matching
    ``pattern``, ``*.sql`` by default), in the order they apply.

    A missing folder has no migrations.
    """
    return list_matching(Path(migrations_dir), pattern)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _ensure_table(engine: Engine, table: str) -> None:
    engine.run(
        f"CREATE TABLE IF NOT EXISTS {_quote(table)}("
        "id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, "
        "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)",
        (),
    )


def _applied(engine: Engine, table: str) -> set[str]:
    _ensure_table(engine, table)
    rows = engine.run(f"SELECT name FROM {_quote(table)}", ()).rows
    return {str(row[0]) for row in rows}


async def pending_migrations(
    db: D1Database,
    migrations_dir: Path | str,
    *,
    table: str = D1_DEFAULT_MIGRATIONS_TABLE,
    pattern: str = DEFAULT_PATTERN,
) -> list[str]:
    """The migrations of ``migrations_dir`` not yet applied to ``db``, in apply order.

    Creates the tracking table if it is missing, as wrangler does.
    """
    try:
        engine = db._engine
        applied = await engine.share.run(partial(_applied, engine, table))
    except D1Error as exc:
        raise MigrationError(f"cannot read the migrations table {table!r}: {exc}") from exc
    return [name for name in list_migrations(migrations_dir, pattern) if name not in applied]


async def apply_migrations(
    db: D1Database,
    migrations_dir: Path | str,
    *,
    table: str = D1_DEFAULT_MIGRATIONS_TABLE,
    pattern: str = DEFAULT_PATTERN,
    on_applied: Callable[[str], object] | None = None,
) -> list[str]:
    """Apply every pending migration of ``migrations_dir`` to ``db``; the names applied.

    Each file runs with its ``INSERT`` into ``table`` as one batch (one transaction). A
    failing file raises :class:`~cfemu.errors.MigrationError` naming it; the files applied
    before it stay applied (listed in the error's ``applied``). ``on_applied(name)`` is
    called after each migration commits (``cfemu d1 migrations apply`` prints its progress
    table there, as wrangler does).
    """
    engine = db._engine
    folder = Path(migrations_dir)
    done: list[str] = []
    for name in await pending_migrations(db, folder, table=table, pattern=pattern):
        try:
            text = (folder / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MigrationError(
                f"Migration {name} could not be read: {exc}", migration=name, applied=done
            ) from exc
        stamp = engine.clock.utcnow().strftime("%Y-%m-%d %H:%M:%S")
        items = [statement_for(engine, s) for s in _sql.split_statements(text)]
        record = f"INSERT INTO {_quote(table)} (name, applied_at) VALUES (?, ?)"
        items.append(statement_for(engine, record, (name, stamp)))
        try:
            # Like any D1 call: on the loop, or on the database's thread when long.
            await engine.share.run(partial(engine.run_batch, items))
        except D1Error as exc:
            error = MigrationError(
                f"Migration {name} failed with the following errors: {exc}",
                migration=name,
                applied=done,
            )
            for note in getattr(exc, "__notes__", ()):
                error.add_note(note)
            raise error from exc
        done.append(name)
        if on_applied is not None:
            on_applied(name)
    return done


def create_migration(
    migrations_dir: Path | str,
    message: str,
    *,
    now: datetime | None = None,
    pattern: str = DEFAULT_PATTERN,
) -> Path:
    """Create the next migration file, ``NNNN_<message>.sql``, and return its path.

    The number follows the highest existing one (the first is ``0001``); spaces in
    ``message`` become ``_``. The file starts with wrangler's header comment. The folder is
    created if missing. Numbers come from the migrations ``pattern`` matches (the first
    path segment's leading integer); a new file that ``pattern`` would not match (a nested
    layout) is refused, as wrangler does.
    """
    if "/" in message or "\\" in message:
        raise MigrationError(f"migration name {message!r} must not contain '/' or '\\'")
    if not message.strip():
        raise MigrationError("a migration needs a name")
    folder = Path(migrations_dir)
    numbers = [leading_number(name.split("/")[0]) for name in list_migrations(folder, pattern)]
    number = f"{max((n for n in numbers if n is not None), default=0) + 1:04d}"
    file_name = f"{number}_{message.replace(' ', '_')}.sql"
    if not matches(pattern, file_name):
        raise MigrationError(
            f"cfemu would like to make a new migration called {file_name!r} but it does not "
            f"match the configured migrations_pattern ({pattern!r} inside the migrations "
            "folder), so applying migrations would not pick it up. `migrations create` only "
            "writes top-level files inside migrations_dir: use your ORM's command (e.g. "
            "`drizzle-kit generate`) for a nested layout, or change migrations_pattern to "
            "match top-level .sql files."
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    path.write_text(f"-- Migration number: {number} \t {iso}\n", encoding="utf-8")
    return path
