"""ctx.storage.sql (spec: durable-objects.md §4.1)."""

from __future__ import annotations

from typing import Any

import pytest

from cfemu.durable_objects.errors import DurableObjectError
from cfemu.durable_objects.tools import run_in_durable_object
from tests.durable_objects.conftest import CONFIG, DEFAULT_WORKER, Host

pytestmark = pytest.mark.anyio


async def _run(host: Host, fn: Any) -> Any:
    if host.hub is None:
        host.start(DEFAULT_WORKER)
    return await run_in_durable_object(host.ns().getByName("a"), fn)


async def test_cursor_rows_one_raw_columns_and_counters(host: Host) -> None:
    def body(obj: Any, ctx: Any) -> Any:
        sql = ctx.storage.sql
        sql.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)")
        ins = sql.exec(
            "INSERT INTO t (name, score, data) VALUES (?, ?, ?), (?, ?, ?)",
            "ann",
            2.0,
            b"\x01",
            "bob",
            2.5,
            None,
        )
        assert (ins.rowsWritten, ins.toArray()) == (2, [])
        cur = sql.exec("SELECT id, name, score, data FROM t ORDER BY id")
        assert cur.columnNames == ["id", "name", "score", "data"]
        first = next(cur)
        assert (first.name, first["score"], bytes(first.data)) == ("ann", 2, b"\x01")
        assert isinstance(first["score"], int)  # a whole REAL arrives as a JS number → int
        assert list(cur.raw()) == [[2, "bob", 2.5, None]]
        assert cur.rowsRead >= 2
        assert sql.exec("SELECT count(*) AS n FROM t").one() == {"n": 2}
        # several statements: the cursor is the last one's, only it has bindings
        last = sql.exec("UPDATE t SET score = 0; SELECT name FROM t WHERE id = ?", 2)
        return last.toArray()

    assert await _run(host, body) == [{"name": "bob"}]


@pytest.mark.parametrize(
    ("query", "bindings", "message"),
    [
        ("SELECT 1 WHERE 0", (), "but got no results"),
        ("SELECT 1 UNION ALL SELECT 2", (), "but got multiple results"),
    ],
)
async def test_one_requires_exactly_one_row(
    host: Host, query: str, bindings: tuple[Any, ...], message: str
) -> None:
    def body(obj: Any, ctx: Any) -> None:
        with pytest.raises(DurableObjectError, match=message):
            ctx.storage.sql.exec(query, *bindings).one()

    await _run(host, body)


@pytest.mark.parametrize(
    ("query", "bindings", "message"),
    [
        ("BEGIN TRANSACTION", (), "please use the state.storage.transaction()"),
        ("SAVEPOINT x", (), "transactionSync()"),
        ("SELECT * FROM _cf_KV", (), "not authorized"),
        ("CREATE TABLE _CF_mine (x)", (), "not authorized"),
        ("SELECT sqlite_version()", (), "not authorized"),
        ("PRAGMA user_version = 3", (), "not authorized"),
        ("  -- only a comment\n", (), "SQL code did not contain a statement."),
        ("SELECT ?", (), "Wrong number of parameter bindings for SQL query."),
        ("SELECT ?", (1, 2), "Wrong number of parameter bindings for SQL query."),
        ("SELEC 1", (), 'near "SELEC": syntax error'),
    ],
)
async def test_exec_errors_use_cloudflare_wording(
    host: Host, query: str, bindings: tuple[Any, ...], message: str
) -> None:
    def body(obj: Any, ctx: Any) -> None:
        ctx.storage.kv.put("so that _cf_KV exists", 1)
        with pytest.raises(DurableObjectError) as info:
            ctx.storage.sql.exec(query, *bindings)
        assert message in str(info.value)

    await _run(host, body)


async def test_database_size_of_a_fresh_object_is_one_page(host: Host) -> None:
    def body(obj: Any, ctx: Any) -> Any:
        fresh = ctx.storage.sql.databaseSize
        ctx.storage.sql.exec("CREATE TABLE t (v)")
        return fresh, ctx.storage.sql.databaseSize

    fresh, after = await _run(host, body)
    assert fresh == 4096 and after > fresh


async def test_writes_of_one_turn_commit_together_and_reads_see_them(host: Host) -> None:
    def body(obj: Any, ctx: Any) -> Any:
        sql = ctx.storage.sql
        sql.exec("CREATE TABLE t (v INTEGER)")
        for i in range(3):
            sql.exec("INSERT INTO t VALUES (?)", i)
        return sql.exec("SELECT sum(v) AS s FROM t").one().s

    assert await _run(host, body) == 3


async def test_kv_backed_classes_refuse_sql_and_sync_kv(host: Host) -> None:
    host.start(DEFAULT_WORKER, CONFIG.replace("new_sqlite_classes", "new_classes"))

    async def body(obj: Any, ctx: Any) -> Any:
        with pytest.raises(DurableObjectError, match="SQL is not enabled for this Durable Object"):
            ctx.storage.sql.exec("SELECT 1")
        with pytest.raises(DurableObjectError, match=r"storage.kv \(synchronous KV\) API"):
            _ = ctx.storage.kv
        await ctx.storage.put("still", "works")
        return await ctx.storage.get("still")

    assert await _run(host, body) == "works"


async def test_kv_backed_classes_have_the_legacy_limits(host: Host) -> None:
    from cfemu.durable_objects.errors import DurableObjectRangeError

    host.start(DEFAULT_WORKER, CONFIG.replace("new_sqlite_classes", "new_classes"))

    async def body(obj: Any, ctx: Any) -> None:
        s = ctx.storage
        with pytest.raises(DurableObjectRangeError, match="Keys cannot be larger than 2048"):
            await s.put("k" * 2049, 1)
        with pytest.raises(DurableObjectRangeError, match="Values cannot be larger than 131072"):
            await s.put("k", "x" * 140_000)
        with pytest.raises(DurableObjectRangeError, match="129 pairs were provided"):
            await s.get([f"k{i}" for i in range(129)])
        await s.put({f"k{i}": i for i in range(128)})

    await _run(host, body)
