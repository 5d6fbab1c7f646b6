"""read_d1_migrations / apply_d1_migrations: vitest's D1 migration helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu.clock import VirtualClock
from cfemu.d1 import open_database
from cfemu.errors import D1Error
from cfemu.testing import D1Migration, apply_d1_migrations, read_d1_migrations

pytestmark = pytest.mark.anyio
MIGRATIONS = Path(__file__).parent / "project" / "migrations"


def test_read_d1_migrations_splits_files_in_wranglers_order(tmp_path: Path) -> None:
    (tmp_path / "10_late.sql").write_text("CREATE TABLE c (x);")
    (tmp_path / "2_early.sql").write_text(
        "-- a comment; with a semicolon\nCREATE TABLE a (x);\nINSERT INTO a VALUES ('x;y');\n"
    )
    (tmp_path / "notes.txt").write_text("ignored")
    migrations = read_d1_migrations(tmp_path)
    assert [m.name for m in migrations] == ["2_early.sql", "10_late.sql"]
    assert len(migrations[0].queries) == 2
    assert migrations[0].queries[1] == "INSERT INTO a VALUES ('x;y');"
    assert read_d1_migrations(tmp_path / "missing") == []


async def test_apply_d1_migrations_applies_pending_ones_once() -> None:
    clock = VirtualClock()
    db = open_database(None, clock=clock)
    migrations = read_d1_migrations(MIGRATIONS)
    assert await apply_d1_migrations(db, migrations) == ["0001_init.sql", "0002_ticks.sql"]
    assert await apply_d1_migrations(db, migrations) == []
    rows = await db.prepare("SELECT name, applied_at FROM d1_migrations ORDER BY id").raw()
    stamp = clock.utcnow().strftime("%Y-%m-%d %H:%M:%S")  # the virtual clock's time
    assert rows == [["0001_init.sql", stamp], ["0002_ticks.sql", stamp]]
    await db.prepare("INSERT INTO ticks VALUES ('x', 1)").run()


async def test_apply_d1_migrations_stops_at_a_failing_migration_atomically() -> None:
    db = open_database(None)
    migrations = [
        D1Migration("0001_ok.sql", ("CREATE TABLE a (x);",)),
        {
            "name": "0002_bad.sql",
            "queries": ["CREATE TABLE b (x);", "INSERT INTO nope VALUES (1);"],
        },
    ]
    with pytest.raises(D1Error, match="no such table: nope"):
        await apply_d1_migrations(db, migrations, "my_migrations")
    names = await db.prepare("SELECT name FROM my_migrations").raw()
    assert names == [["0001_ok.sql"]]
    tables = await db.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").raw()
    assert tables == []  # the failed migration left nothing behind


async def test_apply_d1_migrations_checks_its_arguments() -> None:
    db = open_database(None)
    with pytest.raises(TypeError, match="D1 database"):
        await apply_d1_migrations("db", [])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="read_d1_migrations"):
        await apply_d1_migrations(db, [{"name": "x", "queries": "SELECT 1"}])
    with pytest.raises(TypeError, match="migrations_table"):
        await apply_d1_migrations(db, [], "")
