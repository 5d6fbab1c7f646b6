"""batch() and exec() (spec: d1.md §2.1, §2.2)."""

from __future__ import annotations

import pytest

from cfemu._js import JsDict
from cfemu.d1 import D1Database
from cfemu.errors import D1Error, D1ExecError

pytestmark = pytest.mark.anyio


async def _count(db: D1Database, table: str = "t") -> int:
    n = await db.prepare(f"SELECT count(*) AS n FROM {table}").first("n")
    assert isinstance(n, int)
    return n


# --- batch --------------------------------------------------------------------------------------
async def test_batch_returns_one_result_per_statement_in_order(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    insert = db.prepare("INSERT INTO t (v) VALUES (?) RETURNING id")
    results = await db.batch(
        [insert.bind("a"), insert.bind("b"), db.prepare("SELECT v FROM t ORDER BY id")]
    )
    assert [r.results for r in results] == [[{"id": 1}], [{"id": 2}], [{"v": "a"}, {"v": "b"}]]
    assert all(isinstance(r, JsDict) and r.success is True for r in results)
    assert [r.meta.last_row_id for r in results] == [1, 2, 2]
    assert [r.meta.changes for r in results] == [1, 1, 0]
    assert [r.meta.changed_db for r in results] == [True, True, False]
    assert results[2].meta.rows_read == 2


async def test_a_failing_statement_rolls_back_the_whole_batch(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    with pytest.raises(D1Error) as info:
        await db.batch(
            [
                db.prepare("INSERT INTO t VALUES (1)"),
                db.prepare("INSERT INTO t VALUES (2)"),
                db.prepare("INSERT INTO t VALUES (1)"),
                db.prepare("INSERT INTO t VALUES (3)"),
            ]
        )
    assert str(info.value) == "D1_ERROR: UNIQUE constraint failed: t.id: SQLITE_CONSTRAINT"
    assert await _count(db) == 0
    # The database is usable afterwards, outside any transaction.
    await db.prepare("INSERT INTO t VALUES (1)").run()
    assert await _count(db) == 1


async def test_a_failing_schema_change_in_a_batch_is_rolled_back(db: D1Database) -> None:
    with pytest.raises(D1Error, match="no such table: nope"):
        await db.batch(
            [db.prepare("CREATE TABLE made (v)"), db.prepare("INSERT INTO nope VALUES (1)")]
        )
    with pytest.raises(D1Error, match="no such table: made"):
        await db.prepare("SELECT * FROM made").all()


async def test_batch_statements_run_in_sequence_and_see_each_other(db: D1Database) -> None:
    results = await db.batch(
        [
            db.prepare("CREATE TABLE t (v)"),
            db.prepare("INSERT INTO t VALUES (?)").bind(5),
            db.prepare("SELECT sum(v) AS s FROM t"),
        ]
    )
    assert results[2].results == [{"s": 5}]
    assert results[0].meta.changed_db is True  # a schema change


async def test_every_result_of_a_batch_reports_the_size_after_the_batch(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (v)")
    insert = db.prepare("INSERT INTO t VALUES (?)")
    results = await db.batch([insert.bind("x" * 3000) for _ in range(5)])
    sizes = {r.meta.size_after for r in results}
    assert len(sizes) == 1
    single = await db.prepare("SELECT 1").all()
    assert sizes == {single.meta.size_after}


async def test_an_empty_batch_is_an_error(db: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await db.batch([])
    assert str(info.value) == "D1_ERROR: No SQL statements detected."


async def test_a_batch_of_something_else_is_a_type_error(db: D1Database) -> None:
    with pytest.raises(TypeError, match="prepared statements"):
        await db.batch(["SELECT 1"])  # type: ignore[list-item]


async def test_batch_accepts_any_iterable(db: D1Database) -> None:
    results = await db.batch(db.prepare(f"SELECT {i} AS v") for i in range(3))
    assert [r.results[0].v for r in results] == [0, 1, 2]


async def test_a_statement_from_another_database_runs_in_the_batchs_database(
    db: D1Database,
) -> None:
    from cfemu.d1 import open_database

    other = open_database(None)
    try:
        await db.exec("CREATE TABLE t (v)")
        foreign = other.prepare("INSERT INTO t VALUES (1)")  # as D1 sends only SQL + params
        await db.batch([foreign])
        assert await _count(db) == 1
    finally:
        other.close()


# --- exec -----------------------------------------------------------------------------------------
async def test_exec_runs_each_line_and_counts_them(db: D1Database) -> None:
    result = await db.exec(
        "CREATE TABLE t (v)\n"
        "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)\n"
        "\n"
        "   \n"
        "INSERT INTO t VALUES (3)\n"
    )
    assert isinstance(result, JsDict)
    assert result == {"count": 3, "duration": 0.0}  # durations follow the virtual clock
    assert result.count == 3
    assert await _count(db) == 3


async def test_exec_breaks_a_statement_that_spans_lines(db: D1Database) -> None:
    with pytest.raises(D1ExecError) as info:
        await db.exec("CREATE TABLE t (\n  v\n)")
    assert str(info.value) == (
        "D1_EXEC_ERROR: Error in line 1: CREATE TABLE t (: incomplete input: SQLITE_ERROR"
    )


async def test_exec_errors_name_line_one_like_d1_and_a_note_names_the_real_line(
    db: D1Database,
) -> None:
    with pytest.raises(D1ExecError) as info:
        await db.exec("CREATE TABLE t (v)\nINSERT INTO t VALUES (1)\nINSERTZ INTO t VALUES (2)")
    err = info.value
    assert str(err) == (
        'D1_EXEC_ERROR: Error in line 1: CREATE TABLE t (v): near "INSERTZ": syntax error: '
        "SQLITE_ERROR"
    )
    assert err.code == "D1_EXEC_ERROR" and isinstance(err, D1Error)
    assert "line 3: INSERTZ INTO t VALUES (2)" in "\n".join(err.__notes__)


async def test_a_failing_exec_changes_nothing(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (v)")
    with pytest.raises(D1ExecError):
        await db.exec("INSERT INTO t VALUES (1)\nINSERT INTO missing VALUES (2)")
    assert await _count(db) == 0


async def test_exec_refuses_what_d1_refuses(db: D1Database) -> None:
    with pytest.raises(D1ExecError, match="Error in line 1: BEGIN: To execute a transaction"):
        await db.exec("BEGIN\nCREATE TABLE t (v)\nCOMMIT")


@pytest.mark.parametrize("sql", ["", "\n\n", "-- nothing here"])
async def test_exec_without_statements_is_an_error(db: D1Database, sql: str) -> None:
    with pytest.raises(D1ExecError) as info:
        await db.exec(sql)
    assert str(info.value).startswith("D1_EXEC_ERROR: Error in line 1: ")
    assert str(info.value).endswith(": No SQL statements detected.")


async def test_a_repeated_statement_reports_each_runs_own_meta(db: D1Database) -> None:
    """A statement text repeated in a batch runs on the batch's fast path: every result
    still has its own meta (changes, last_row_id, changed_db) in D1's key order, and a
    value that needs scrubbing (a lone surrogate) in the middle of the run is stored as
    JavaScript would store it."""
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
    insert = db.prepare("INSERT OR IGNORE INTO t (v) VALUES (?)")
    values = ["a", "b\ud800", "a", "c"]
    results = await db.batch([insert.bind(v) for v in values])
    metas = [r.meta for r in results]
    assert [m.changes for m in metas] == [1, 1, 0, 1]
    assert [m.last_row_id for m in metas] == [1, 2, 2, 3]
    assert [m.changed_db for m in metas] == [True, True, False, True]
    assert all(list(m) == list(metas[0]) for m in metas)
    assert len({id(m) for m in metas}) == 4 and len({id(m.timings) for m in metas}) == 4
    assert {m.size_after for m in metas} == {db.size_bytes()}
    assert all(r.results == [] and r.results is not results[0].results for r in results[1:])
    assert await db.prepare("SELECT v FROM t ORDER BY id").raw() == [["a"], ["b\ufffd"], ["c"]]
