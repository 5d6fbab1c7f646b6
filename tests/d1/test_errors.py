"""D1's error strings, as local workerd gives them (spec: d1.md §5, §6)."""

from __future__ import annotations

import pytest

from cfemu.d1 import D1Database
from cfemu.errors import CfemuError, D1Error

pytestmark = pytest.mark.anyio


async def _error(db: D1Database, sql: str, *values: object) -> str:
    with pytest.raises(D1Error) as info:
        await db.prepare(sql).bind(*values).run()
    assert isinstance(info.value, CfemuError)
    return str(info.value)


async def test_no_such_table(db: D1Database) -> None:
    assert await _error(db, "SELECT * FROM foo") == "D1_ERROR: no such table: foo: SQLITE_ERROR"


async def test_cause_message_is_the_message_without_the_prefix(db: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await db.prepare("SELECT * FROM foo").all()
    assert info.value.cause_message == "no such table: foo: SQLITE_ERROR"
    assert info.value.code == "D1_ERROR"


async def test_syntax_error(db: D1Database) -> None:
    assert (
        await _error(db, "INSERTZ INTO t VALUES (1)")
        == 'D1_ERROR: near "INSERTZ": syntax error: SQLITE_ERROR'
    )


async def test_incomplete_input(db: D1Database) -> None:
    assert await _error(db, "SELECT (1") == "D1_ERROR: incomplete input: SQLITE_ERROR"


async def test_unique_and_primary_key_constraints(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL)")
    await db.prepare("INSERT INTO t VALUES (1, 'a')").run()
    assert (
        await _error(db, "INSERT INTO t VALUES (1, 'b')")
        == "D1_ERROR: UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT"
    )
    assert (
        await _error(db, "INSERT INTO t VALUES (2, 'a')")
        == "D1_ERROR: UNIQUE constraint failed: t.email: SQLITE_CONSTRAINT"
    )
    assert (
        await _error(db, "INSERT INTO t VALUES (3, NULL)")
        == "D1_ERROR: NOT NULL constraint failed: t.email: SQLITE_CONSTRAINT"
    )


async def test_check_constraint_and_strict_tables(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (n INTEGER CHECK (n > 0)) STRICT")
    assert (
        await _error(db, "INSERT INTO t VALUES (0)")
        == "D1_ERROR: CHECK constraint failed: n > 0: SQLITE_CONSTRAINT"
    )
    assert (
        await _error(db, "INSERT INTO t VALUES ('x')")
        == "D1_ERROR: cannot store TEXT value in INTEGER column t.n: SQLITE_CONSTRAINT"
    )


async def test_foreign_keys_are_enforced_by_default(db: D1Database) -> None:
    await db.exec(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY)\n"
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id))"
    )
    assert await db.prepare("PRAGMA foreign_keys").first("foreign_keys") == 1
    assert (
        await _error(db, "INSERT INTO child VALUES (1, 99)")
        == "D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT"
    )


async def test_a_failing_statement_changes_nothing(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    await db.prepare("INSERT INTO t VALUES (5)").run()
    # The first rows of this INSERT succeed before the third collides with id 5.
    await _error(db, "INSERT INTO t VALUES (1), (2), (5)")
    assert await db.prepare("SELECT id FROM t").raw() == [[5]]


async def test_errors_are_raised_by_every_execution_method(db: D1Database) -> None:
    stmt = db.prepare("SELECT * FROM missing")
    for run in (stmt.first, stmt.all, stmt.run, stmt.raw):
        with pytest.raises(D1Error, match="no such table: missing"):
            await run()
