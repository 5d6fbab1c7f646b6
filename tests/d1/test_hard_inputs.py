"""Reading what is hard to read: TEXT that is not valid UTF-8 (``CAST(X'FF' AS TEXT)``,
``blob || text``), which D1 hands to JavaScript to decode with U+FFFD for invalid sequences
(cfemu must read it the same way, never fail after a write has happened, and export it
exactly); a database locked by another process; ``exec`` of something that is not SQL."""

from __future__ import annotations

import gc
import sqlite3
from pathlib import Path

import pytest

from cfemu.d1 import D1Database, open_database
from cfemu.d1.export import export_sql
from cfemu.errors import D1Error, D1ExecError

pytestmark = pytest.mark.anyio


async def _bad_row(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)")
    await db.prepare("INSERT INTO t VALUES (1, CAST(X'61FF' AS TEXT))").run()


async def test_reading_invalid_utf8_text_gives_replacement_characters(db: D1Database) -> None:
    await _bad_row(db)
    select = db.prepare("SELECT a FROM t")
    assert (await select.all()).results == [{"a": "a\ufffd"}]
    assert await select.first("a") == "a\ufffd"
    assert await select.raw() == [["a\ufffd"]]
    assert (await db.batch([select]))[0].results == [{"a": "a\ufffd"}]
    assert (await db.exec("SELECT a FROM t")).count == 1
    # Valid text keeps decoding strictly afterwards (the lenient decoder is not left on).
    assert await db.prepare("SELECT 'é' AS e").first("e") == "é"


async def test_a_write_returning_invalid_utf8_text_succeeds(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)")
    result = await db.prepare("INSERT INTO t VALUES (1, CAST(X'FF' AS TEXT)) RETURNING a").all()
    assert result.results == [{"a": "\ufffd"}]
    assert result.meta.changes == 1


async def test_export_keeps_invalid_utf8_text_byte_for_byte(db: D1Database) -> None:
    await _bad_row(db)
    statements = list(export_sql(db))
    assert 'INSERT INTO "t" ("id", "a") VALUES(1, CAST(X\'61FF\' AS TEXT));' in statements
    assert await db.prepare("SELECT 'é' AS e").first("e") == "é"


async def test_exec_of_something_that_is_not_a_string_is_a_type_error(db: D1Database) -> None:
    with pytest.raises(TypeError, match="exec\\(\\) takes a SQL string, not NoneType"):
        await db.exec(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not bytes"):
        await db.exec(b"SELECT 1")  # type: ignore[arg-type]


async def test_a_locked_database_fails_batch_and_exec_with_d1_errors_and_restores_gc(
    tmp_path: Path,
) -> None:
    # Another process (say `cfemu d1 execute` beside `cfemu dev`) holds the write lock.
    db = open_database(tmp_path / "db.sqlite")
    await db.exec("CREATE TABLE t (a)")
    db._engine.trusted("PRAGMA busy_timeout = 0")  # fail at once instead of waiting 5 s
    other = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert gc.isenabled()
        with pytest.raises(D1Error, match=r"^D1_ERROR: database is locked: SQLITE_BUSY$"):
            await db.batch([db.prepare("INSERT INTO t VALUES (1)")])
        assert gc.isenabled()
        with pytest.raises(D1ExecError, match="database is locked: SQLITE_BUSY"):
            await db.exec("INSERT INTO t VALUES (1)")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await db.batch([db.prepare("INSERT INTO t VALUES (2)")])
    assert await db.prepare("SELECT a FROM t").raw() == [[2]]
    db.close()
