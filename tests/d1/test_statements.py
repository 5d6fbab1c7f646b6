"""Prepared statements: prepare, bind, first, all, run, raw (spec: d1.md §1, §2)."""

from __future__ import annotations

import pytest

from cfemu._js import JsDict
from cfemu.d1 import D1Database
from cfemu.errors import D1ColumnNotFoundError, D1Error

pytestmark = pytest.mark.anyio


async def _people(db: D1Database) -> None:
    await db.exec("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
    insert = db.prepare("INSERT INTO people (name, age) VALUES (?, ?)")
    await db.batch([insert.bind("ada", 36), insert.bind("alan", 41), insert.bind("grace", 85)])


async def test_prepare_does_no_io_and_never_fails(db: D1Database) -> None:
    stmt = db.prepare("SELECT * FROM no_such_table")
    assert stmt.statement == "SELECT * FROM no_such_table"
    assert stmt.params == []
    with pytest.raises(D1Error, match="no such table"):
        await stmt.all()


async def test_bind_returns_a_new_statement_and_leaves_the_original_reusable(
    db: D1Database,
) -> None:
    stmt = db.prepare("SELECT ? AS v")
    one, two = stmt.bind(1), stmt.bind(2)
    assert one is not stmt and two is not one
    assert stmt.params == [] and one.params == [1] and two.params == [2]
    assert await one.first("v") == 1
    assert await two.first("v") == 2
    assert await one.first("v") == 1  # a statement runs again and again


async def test_params_show_values_as_d1_holds_them(db: D1Database) -> None:
    stmt = db.prepare("SELECT ?, ?, ?, ?").bind(True, b"\x01\x02", None, 1.5)
    assert stmt.params == [1, [1, 2], None, 1.5]
    assert "SELECT ?, ?, ?, ?" in repr(stmt)


async def test_all_returns_success_meta_and_rows_as_jsdicts(db: D1Database) -> None:
    await _people(db)
    result = await db.prepare("SELECT name, age FROM people ORDER BY id").all()
    assert isinstance(result, JsDict)
    assert list(result) == ["success", "meta", "results"]
    assert result.success is True
    assert result["results"] == [
        {"name": "ada", "age": 36},
        {"name": "alan", "age": 41},
        {"name": "grace", "age": 85},
    ]
    first = result.results[0]
    assert isinstance(first, JsDict) and first.name == "ada" and first["age"] == 36
    assert isinstance(result.meta, JsDict)
    assert result.meta.rows_read == 3 and result["meta"]["changes"] == 0


async def test_run_has_the_same_shape_as_all(db: D1Database) -> None:
    await _people(db)
    result = await db.prepare("UPDATE people SET age = age + 1 WHERE name = ?").bind("ada").run()
    assert result.success is True
    assert result.results == []
    assert result.meta.changes == 1
    returned = await db.prepare("DELETE FROM people WHERE name = ? RETURNING id").bind("alan").run()
    assert returned.results == [{"id": 2}]


async def test_first_returns_the_first_row_or_none(db: D1Database) -> None:
    await _people(db)
    row = await db.prepare("SELECT name FROM people ORDER BY id").first()
    assert row == {"name": "ada"} and isinstance(row, JsDict)
    assert row.name == "ada"
    assert await db.prepare("SELECT name FROM people WHERE id = 99").first() is None
    assert await db.prepare("SELECT name FROM people WHERE id = 99").first("name") is None


async def test_first_with_a_column_returns_its_value_including_null(db: D1Database) -> None:
    await _people(db)
    assert await db.prepare("SELECT age FROM people WHERE name = 'grace'").first("age") == 85
    assert await db.prepare("SELECT NULL AS missing").first("missing") is None


async def test_first_with_an_unknown_column_raises_column_notfound(db: D1Database) -> None:
    await _people(db)
    with pytest.raises(D1ColumnNotFoundError) as info:
        await db.prepare("SELECT name FROM people").first("nope")
    assert str(info.value) == "D1_COLUMN_NOTFOUND: Column not found (nope)"
    assert info.value.code == "D1_COLUMN_NOTFOUND"


async def test_first_still_runs_the_whole_statement(db: D1Database) -> None:
    await _people(db)
    row = await db.prepare("UPDATE people SET age = 0 RETURNING name").first()
    assert row is not None
    ages = await db.prepare("SELECT age FROM people").raw()
    assert ages == [[0], [0], [0]]


async def test_raw_returns_lists_and_optionally_column_names(db: D1Database) -> None:
    await _people(db)
    stmt = db.prepare("SELECT id, name FROM people WHERE id <= 2 ORDER BY id")
    assert await stmt.raw() == [[1, "ada"], [2, "alan"]]
    assert await stmt.raw(columnNames=True) == [["id", "name"], [1, "ada"], [2, "alan"]]
    assert await stmt.raw({"columnNames": True}) == [["id", "name"], [1, "ada"], [2, "alan"]]


async def test_raw_with_column_names_and_no_rows_has_only_the_names(db: D1Database) -> None:
    await _people(db)
    stmt = db.prepare("SELECT id, name FROM people WHERE id > 100")
    assert await stmt.raw(columnNames=True) == [["id", "name"]]
    assert await stmt.raw() == []


async def test_duplicate_column_names_collapse_in_objects_but_not_in_raw(
    db: D1Database,
) -> None:
    stmt = db.prepare("SELECT 1 AS a, 2 AS b, 3 AS b")
    assert await stmt.first() == {"a": 1, "b": 3}
    assert await stmt.raw(columnNames=True) == [["a", "b", "b"], [1, 2, 3]]


async def test_ordered_parameters_bind_by_number(db: D1Database) -> None:
    row = await db.prepare("SELECT ?2 AS two, ?1 AS one, ?2 AS again").bind("x", "y").first()
    assert row == {"two": "y", "one": "x", "again": "y"}


@pytest.mark.parametrize(("sql", "values"), [("SELECT ?", ()), ("SELECT ?", (1, 2))])
async def test_the_wrong_number_of_bindings_is_an_error(
    db: D1Database, sql: str, values: tuple[int, ...]
) -> None:
    with pytest.raises(D1Error) as info:
        await db.prepare(sql).bind(*values).all()
    assert str(info.value) == "D1_ERROR: Wrong number of parameter bindings for SQL query."


async def test_several_statements_in_one_prepare_return_the_last_result(db: D1Database) -> None:
    result = (
        await db.prepare(
            "CREATE TABLE t (v); INSERT INTO t VALUES (1); SELECT v FROM t WHERE v = ?"
        )
        .bind(1)
        .all()
    )
    assert result.results == [{"v": 1}]


async def test_only_the_last_of_several_statements_may_have_parameters(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (v)")
    with pytest.raises(D1Error) as info:
        await db.prepare("INSERT INTO t VALUES (?); SELECT 1").bind(1).all()
    assert str(info.value) == (
        "D1_ERROR: When executing multiple SQL statements in a single call, only the last "
        "statement can have parameters."
    )
    assert await db.prepare("SELECT count(*) AS n FROM t").first("n") == 0


async def test_several_statements_fail_as_a_whole(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (v UNIQUE)")
    with pytest.raises(D1Error, match=r"UNIQUE constraint failed: t\.v: SQLITE_CONSTRAINT"):
        await db.prepare("INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)").run()
    assert await db.prepare("SELECT count(*) AS n FROM t").first("n") == 0


@pytest.mark.parametrize("sql", ["", "   ", "-- just a comment", ";", "/* c */ ;"])
async def test_a_statement_without_sql_is_an_error(db: D1Database, sql: str) -> None:
    with pytest.raises(D1Error) as info:
        await db.prepare(sql).all()
    assert str(info.value) == "D1_ERROR: No SQL statements detected."


async def test_trailing_semicolons_and_comments_are_fine(db: D1Database) -> None:
    assert await db.prepare("SELECT 1 AS x; -- done").first("x") == 1
    assert await db.prepare("SELECT 2 AS x;;").first("x") == 2
