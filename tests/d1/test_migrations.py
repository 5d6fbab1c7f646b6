"""Migrations as wrangler applies them locally (spec: d1.md §8)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu.clock import VirtualClock
from cfemu.d1 import (
    D1Database,
    apply_migrations,
    create_migration,
    list_migrations,
    open_database,
    pending_migrations,
)
from cfemu.errors import MigrationError

pytestmark = pytest.mark.anyio


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


async def _tables(db: D1Database) -> list[str]:
    rows = await db.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).raw()
    return [str(r[0]) for r in rows]


def test_files_apply_in_order_of_their_leading_number(tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "migrations",
        {
            "0010_ten.sql": "",
            "0002_two.sql": "",
            "1_one.sql": "",
            "zz_unnumbered.sql": "",
            "aa_unnumbered.sql": "",
            "0002_also_two.sql": "",
            "notes.txt": "",
        },
    )
    (folder / "0003_a_folder.sql").mkdir()
    assert list_migrations(folder) == [
        "1_one.sql",
        "0002_also_two.sql",
        "0002_two.sql",
        "0010_ten.sql",
        "aa_unnumbered.sql",
        "zz_unnumbered.sql",
    ]


def test_a_missing_folder_has_no_migrations(tmp_path: Path) -> None:
    assert list_migrations(tmp_path / "nope") == []


@given(numbers=st.lists(st.integers(0, 99_999), unique=True, max_size=12))
@settings(max_examples=40, deadline=None)
def test_numbered_files_always_sort_by_number(numbers: list[int]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = _write(Path(tmp), {f"{n:04d}_m.sql": "" for n in numbers})
        assert [int(name.split("_")[0]) for name in list_migrations(folder)] == sorted(numbers)


async def test_apply_applies_pending_migrations_once(tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "migrations",
        {
            "0001_init.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n",
            "0002_seed.sql": "-- seed\nINSERT INTO users (name) VALUES ('ada');\n"
            "INSERT INTO users (name) VALUES ('alan');",
        },
    )
    clock = VirtualClock(datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
    db = open_database(None, clock=clock)
    try:
        assert await pending_migrations(db, folder) == ["0001_init.sql", "0002_seed.sql"]
        assert await apply_migrations(db, folder) == ["0001_init.sql", "0002_seed.sql"]
        assert await pending_migrations(db, folder) == []
        assert await apply_migrations(db, folder) == []  # idempotent
        assert await db.prepare("SELECT count(*) AS n FROM users").first("n") == 2
        records = (await db.prepare("SELECT * FROM d1_migrations ORDER BY id").all()).results
        assert records == [
            {"id": 1, "name": "0001_init.sql", "applied_at": "2026-03-04 05:06:07"},
            {"id": 2, "name": "0002_seed.sql", "applied_at": "2026-03-04 05:06:07"},
        ]
        _write(folder, {"0003_more.sql": "ALTER TABLE users ADD COLUMN email TEXT;"})
        assert await apply_migrations(db, folder) == ["0003_more.sql"]
    finally:
        db.close()


async def test_a_failing_migration_stops_the_run_and_keeps_earlier_ones(
    db: D1Database, tmp_path: Path
) -> None:
    folder = _write(
        tmp_path / "m",
        {
            "0001_ok.sql": "CREATE TABLE a (v);",
            "0002_bad.sql": "CREATE TABLE b (v);\nINSERT INTO missing VALUES (1);",
            "0003_later.sql": "CREATE TABLE c (v);",
        },
    )
    with pytest.raises(MigrationError) as info:
        await apply_migrations(db, folder)
    err = info.value
    assert str(err) == (
        "Migration 0002_bad.sql failed with the following errors: "
        "D1_ERROR: no such table: missing: SQLITE_ERROR"
    )
    assert err.migration == "0002_bad.sql" and err.applied == ["0001_ok.sql"]
    assert err.code == "D1_MIGRATION_ERROR"
    assert await _tables(db) == ["a", "d1_migrations"]  # 0002's CREATE TABLE b rolled back
    assert await pending_migrations(db, folder) == ["0002_bad.sql", "0003_later.sql"]
    _write(folder, {"0002_bad.sql": "CREATE TABLE b (v);"})
    assert await apply_migrations(db, folder) == ["0002_bad.sql", "0003_later.sql"]
    assert await _tables(db) == ["a", "b", "c", "d1_migrations"]


async def test_transactions_in_a_migration_are_refused_as_d1_does(
    db: D1Database, tmp_path: Path
) -> None:
    folder = _write(
        tmp_path / "m", {"0001_tx.sql": "BEGIN TRANSACTION;\nCREATE TABLE t (v);\nCOMMIT;"}
    )
    with pytest.raises(MigrationError, match="To execute a transaction"):
        await apply_migrations(db, folder)
    assert await _tables(db) == ["d1_migrations"]


async def test_triggers_and_comments_in_migrations(db: D1Database, tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "m",
        {
            "0001_trigger.sql": (
                "-- Migration number: 0001 \t 2026-01-01T00:00:00.000Z\n"
                "CREATE TABLE t (v TEXT); -- values; with a semicolon\n"
                "CREATE TABLE log (v TEXT);\n"
                "CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN\n"
                "  INSERT INTO log VALUES ('x;y');\n"
                "  INSERT INTO log VALUES (new.v);\n"
                "END;\n"
            ),
            "0002_header_only.sql": "-- Migration number: 0002 \t 2026-01-01T00:00:00.000Z\n",
        },
    )
    assert await apply_migrations(db, folder) == ["0001_trigger.sql", "0002_header_only.sql"]
    await db.prepare("INSERT INTO t VALUES ('z')").run()
    assert await db.prepare("SELECT v FROM log ORDER BY rowid").raw() == [["x;y"], ["z"]]


async def test_a_custom_migrations_table(db: D1Database, tmp_path: Path) -> None:
    folder = _write(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a (v);"})
    assert await apply_migrations(db, folder, table="schema history") == ["0001_a.sql"]
    names = await db.prepare('SELECT name FROM "schema history"').raw()
    assert names == [["0001_a.sql"]]
    assert await pending_migrations(db, folder, table="schema history") == []
    assert await pending_migrations(db, folder) == ["0001_a.sql"]


async def test_a_reserved_migrations_table_name_is_an_error(db: D1Database, tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="not authorized"):
        await pending_migrations(db, tmp_path, table="_cf_migrations")


def test_create_migration_numbers_files_and_writes_the_header(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    first = create_migration(folder, "create users", now=when)
    assert first == folder / "0001_create_users.sql"
    assert first.read_text() == "-- Migration number: 0001 \t 2026-01-02T03:04:05.678Z\n"
    _write(folder, {"0041_manual.sql": ""})
    assert create_migration(folder, "next").name == "0042_next.sql"


@pytest.mark.parametrize("name", ["a/b", "a\\b", "  "])
def test_create_migration_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(MigrationError):
        create_migration(tmp_path, name)
