"""D1 migrations as data: vitest's ``readD1Migrations``/``applyD1Migrations`` in Python."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cfemu.d1 import D1Database, list_migrations
from cfemu.d1._sql import split_statements
from cfemu.d1.layout import relative_pattern
from cfemu.limits import D1_DEFAULT_MIGRATIONS_TABLE

__all__ = ["D1Migration", "apply_d1_migrations", "read_d1_migrations"]


@dataclass(frozen=True)
class D1Migration:
    """One migration file: its ``name`` and the SQL ``queries`` it runs, in order."""

    name: str
    queries: tuple[str, ...]


def read_d1_migrations(
    migrations_dir: Path | str, *, migrations_pattern: str | None = None
) -> list[D1Migration]:
    """Every migration of ``migrations_dir`` (``NNNN_name.sql`` files, in wrangler's order),
    split into its statements. A missing folder has none.

    ``migrations_pattern`` is the config key of the same name: a glob that starts with
    ``migrations_dir`` (``"migrations/*/migration.sql"`` for Drizzle's nested folders);
    names are then paths relative to ``migrations_dir``, as wrangler records them.
    """
    folder = Path(migrations_dir)
    pattern = relative_pattern(str(migrations_dir), migrations_pattern)
    return [
        D1Migration(name, tuple(split_statements((folder / name).read_text(encoding="utf-8"))))
        for name in list_migrations(folder, pattern)
    ]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _coerce(migration: D1Migration | Mapping[str, object]) -> D1Migration:
    if isinstance(migration, D1Migration):
        return migration
    if isinstance(migration, Mapping):
        name, queries = migration.get("name"), migration.get("queries")
        if (
            isinstance(name, str)
            and isinstance(queries, list | tuple)
            and all(isinstance(q, str) for q in queries)
        ):
            return D1Migration(name, tuple(queries))
    raise TypeError(
        "apply_d1_migrations() needs migrations as returned by read_d1_migrations() (or "
        f"mappings with 'name' and a list of 'queries'), got {migration!r}"
    )


async def apply_d1_migrations(
    db: D1Database,
    migrations: Iterable[D1Migration | Mapping[str, object]],
    migrations_table: str = D1_DEFAULT_MIGRATIONS_TABLE,
) -> list[str]:
    """Apply the ``migrations`` not yet recorded in ``migrations_table`` to ``db``.

    Like vitest's ``applyD1Migrations``: the table is created if missing, and each pending
    migration runs with its record as one ``db.batch`` (all or nothing), through the D1 API,
    so D1's rules and injected faults apply. Returns the names applied, in order. The first
    failure raises (a :class:`~cfemu.errors.D1Error`); migrations applied before it stay.
    """
    if not isinstance(db, D1Database):
        raise TypeError(f"apply_d1_migrations() needs a D1 database, got {type(db).__name__}")
    if not isinstance(migrations_table, str) or not migrations_table:
        raise TypeError("migrations_table must be a non-empty string")
    wanted = [_coerce(m) for m in migrations]
    table = _quote(migrations_table)
    await db.prepare(
        f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)"
    ).run()
    rows = await db.prepare(f"SELECT name FROM {table}").raw()
    applied = {str(row[0]) for row in rows}
    record = db.prepare(f"INSERT INTO {table} (name, applied_at) VALUES (?, ?)")
    clock = db._engine.clock
    done: list[str] = []
    for migration in wanted:
        if migration.name in applied:
            continue
        stamp = clock.utcnow().strftime("%Y-%m-%d %H:%M:%S")  # the emulator's time, not SQLite's
        statements = [db.prepare(query) for query in migration.queries]
        statements.append(record.bind(migration.name, stamp))
        await db.batch(statements)
        applied.add(migration.name)
        done.append(migration.name)
    return done
