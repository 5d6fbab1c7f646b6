"""``first()`` keeps a row builder per statement text: it must follow schema changes.

The builder's column names are those of the statement's last run; SQLite compiles a
cached statement again when the schema changes, and cfemu drops the builder then. These
tests change the columns a ``SELECT *`` returns in every way a Worker, a migration or
another process can, and check the next ``first()`` answers with the new columns.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cfemu.clock import VirtualClock
from cfemu.d1 import D1Database, open_database

pytestmark = pytest.mark.anyio

SELECT = "SELECT * FROM t WHERE id = ?"


async def _table(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    await db.prepare("INSERT INTO t (id, name) VALUES (1, 'one')").run()


async def test_a_column_added_by_the_worker_shows_in_the_next_first() -> None:
    db = open_database(None, clock=VirtualClock())
    await _table(db)
    assert await db.prepare(SELECT).bind(1).first() == {"id": 1, "name": "one"}
    await db.prepare("ALTER TABLE t ADD COLUMN score REAL DEFAULT 2.0").run()
    assert await db.prepare(SELECT).bind(1).first() == {"id": 1, "name": "one", "score": 2}
    await db.exec("ALTER TABLE t RENAME COLUMN name TO label")
    assert await db.prepare(SELECT).bind(1).first() == {"id": 1, "label": "one", "score": 2}
    await db.batch([db.prepare("ALTER TABLE t DROP COLUMN score")])
    assert await db.prepare(SELECT).bind(1).first() == {"id": 1, "label": "one"}
    db.close()


async def test_a_column_renamed_by_another_process_shows_in_the_next_first(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    db = open_database(path, clock=VirtualClock())
    await _table(db)
    assert await db.prepare(SELECT).bind(1).first("name") == "one"
    other = sqlite3.connect(path, isolation_level=None)  # a migration run elsewhere
    try:
        other.execute("ALTER TABLE t RENAME COLUMN name TO label")
        assert await db.prepare(SELECT).bind(1).first() == {"id": 1, "label": "one"}
        other.execute("ALTER TABLE t ADD COLUMN extra TEXT DEFAULT 'x'")
        row = await db.prepare(SELECT).bind(1).first()
        assert row == {"id": 1, "label": "one", "extra": "x"}
        assert row.extra == "x"
    finally:
        other.close()
        db.close()


async def test_statements_alternating_keep_their_own_columns() -> None:
    db = open_database(None, clock=VirtualClock())
    await _table(db)
    by_id = db.prepare("SELECT id AS key FROM t WHERE id = ?")
    by_name = db.prepare("SELECT name AS key, id FROM t WHERE id = ?")
    for _ in range(3):
        assert await by_id.bind(1).first() == {"key": 1}
        assert await by_name.bind(1).first() == {"key": "one", "id": 1}
    db.close()
