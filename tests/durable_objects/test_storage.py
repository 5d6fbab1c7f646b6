"""ctx.storage: the async key-value API, transactions, sync kv (spec: durable-objects.md §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cfemu._js import JsDict
from cfemu.durable_objects.errors import (
    DataCloneError,
    DurableObjectError,
    DurableObjectTypeError,
)
from cfemu.durable_objects.tools import list_durable_object_ids, run_in_durable_object
from tests.durable_objects.conftest import DEFAULT_WORKER, Host

pytestmark = pytest.mark.anyio


async def _run(host: Host, fn: Any, name: str = "a") -> Any:
    if host.hub is None:
        host.start(DEFAULT_WORKER)
    return await run_in_durable_object(host.ns().getByName(name), fn)


async def test_get_put_delete_single_keys(host: Host) -> None:
    async def body(obj: Any, ctx: Any) -> Any:
        s = ctx.storage
        assert await s.get("missing") is None
        await s.put("k", {"a": [1, 2]})
        got = await s.get("k")
        assert isinstance(got, JsDict) and got.a == [1, 2]
        assert await s.delete("k") is True
        assert await s.delete("k") is False
        return await s.get("k")

    assert await _run(host, body) is None


async def test_multi_key_get_put_delete(host: Host) -> None:
    async def body(obj: Any, ctx: Any) -> Any:
        s = ctx.storage
        await s.put({"b": 2, "a": 1, "c": 3})
        found = await s.get(["c", "nope", "a"])
        assert list(found.items()) == [("a", 1), ("c", 3)]  # only found keys, sorted
        assert await s.delete(["a", "b", "zz"]) == 2
        return dict(await s.list())

    assert await _run(host, body) == {"c": 3}


async def test_values_are_copies_and_keep_their_types(host: Host) -> None:
    async def body(obj: Any, ctx: Any) -> Any:
        s = ctx.storage
        value = {"list": [1, 2.5, None, True], "set": {1, 2}, "bytes": b"\x00\xff"}
        await s.put("v", value)
        value["list"].append("mutated after put")
        got = await s.get("v")
        assert got["list"] == [1, 2.5, None, True]
        assert got["set"] == {1, 2}
        assert bytes(got["bytes"]) == b"\x00\xff" and isinstance(got["bytes"], memoryview)
        when = datetime(2026, 1, 2, 3, 4, 5, 678000)
        await s.put("when", when)
        assert await s.get("when") == when
        with pytest.raises(TypeError, match="cannot be sent over RPC"):
            await s.put("t", (1, 2))
        with pytest.raises(DataCloneError, match="could not be cloned"):
            await s.put("o", object())
        return await s.get("t")

    assert await _run(host, body) is None


async def test_list_orders_by_utf8_bytes_and_applies_every_option(host: Host) -> None:
    keys = ["b", "a", "ab", "é", "Z", "a\u0000", "ac", "b1"]

    async def body(obj: Any, ctx: Any) -> dict[str, list[str]]:
        s = ctx.storage
        await s.put({k: i for i, k in enumerate(keys)})
        out = {}
        out["all"] = list(await s.list())
        out["prefix"] = list(await s.list(prefix="a"))
        out["range"] = list(await s.list(start="ab", end="b1"))
        out["after"] = list(await s.list(startAfter="ab"))
        out["rev"] = list(await s.list(reverse=True, limit=2))
        out["dict_opts"] = list(await s.list({"prefix": "b", "reverse": True}))
        out["empty"] = list(await s.list(start="x", end="a"))
        return out

    out = await _run(host, body)
    ordered = sorted(keys, key=lambda k: k.encode())
    assert out["all"] == ordered
    assert out["prefix"] == ["a", "a\u0000", "ab", "ac"]
    assert out["range"] == ["ab", "ac", "b"]
    assert out["after"] == [k for k in ordered if k.encode() > b"ab"]
    assert out["rev"] == ordered[::-1][:2]
    assert out["dict_opts"] == ["b1", "b"]
    assert out["empty"] == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"start": "a", "startAfter": "b"}, "both start and startAfter"),
        ({"limit": 0}, "List limit must be positive."),
        ({"limit": -3}, "List limit must be positive."),
    ],
)
async def test_list_option_errors(host: Host, options: dict[str, Any], message: str) -> None:
    async def body(obj: Any, ctx: Any) -> None:
        with pytest.raises(DurableObjectTypeError, match=message):
            await ctx.storage.list(**options)

    await _run(host, body)


async def test_key_plus_value_over_2mb_is_too_big(host: Host) -> None:
    async def body(obj: Any, ctx: Any) -> Any:
        with pytest.raises(DurableObjectError, match="string or blob too big: SQLITE_TOOBIG"):
            await ctx.storage.put("k", "x" * 2_000_000)
        await ctx.storage.put("k", "x" * 1_000_000)
        return len(await ctx.storage.get("k"))

    assert await _run(host, body) == 1_000_000


async def test_put_without_await_still_happens(host: Host) -> None:
    async def body(obj: Any, ctx: Any) -> Any:
        ctx.storage.put("k", 1)  # as on Cloudflare, the write is issued at the call
        return await ctx.storage.get("k")

    assert await _run(host, body) == 1


async def test_transaction_commits_or_rolls_back_on_exception(host: Host) -> None:
    async def body(obj: Any, ctx: Any) -> Any:
        s = ctx.storage

        async def ok(txn: Any) -> str:
            await txn.put("a", 1)
            return "done"

        assert await s.transaction(ok) == "done"

        async def fails(txn: Any) -> None:
            await txn.put("a", 2)
            await txn.put("b", 2)
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await s.transaction(fails)

        async def rolls_back(txn: Any) -> None:
            await txn.put("c", 3)
            txn.rollback()
            with pytest.raises(DurableObjectError, match=r"Cannot get\(\) on rolled back"):
                await txn.get("c")

        await s.transaction(rolls_back)
        return dict(await s.list())

    assert await _run(host, body) == {"a": 1}


async def test_transaction_object_after_commit_and_delete_all_inside(host: Host) -> None:
    async def body(obj: Any, ctx: Any) -> None:
        kept: list[Any] = []

        async def closure(txn: Any) -> None:
            kept.append(txn)
            with pytest.raises(DurableObjectError, match="within a transaction"):
                txn.deleteAll()

        await ctx.storage.transaction(closure)
        with pytest.raises(DurableObjectError, match="already committed: did you move `txn`"):
            kept[0].put("x", 1)

    await _run(host, body)


async def test_transaction_sync_nests_and_rolls_back(host: Host) -> None:
    async def body(obj: Any, ctx: Any) -> Any:
        s = ctx.storage
        s.sql.exec("CREATE TABLE t (v INTEGER)")

        def inner() -> None:
            s.sql.exec("INSERT INTO t VALUES (2)")
            raise ValueError("inner fails")

        def outer() -> int:
            s.sql.exec("INSERT INTO t VALUES (1)")
            with pytest.raises(ValueError):
                s.transactionSync(inner)
            return 7

        assert s.transactionSync(outer) == 7
        return [r["v"] for r in s.sql.exec("SELECT v FROM t")]

    assert await _run(host, body) == [1]


async def test_delete_all_clears_keys_and_tables(host: Host) -> None:
    async def body(obj: Any, ctx: Any) -> Any:
        s = ctx.storage
        await s.put("k", 1)
        s.sql.exec('CREATE TABLE "we""ird" (v)')
        s.sql.exec("CREATE VIEW vv AS SELECT 1")
        await s.deleteAll()
        tables = s.sql.exec("SELECT name FROM sqlite_master").toArray()
        return dict(await s.list()), tables

    assert await _run(host, body) == ({}, [])


async def test_sync_kv_api_and_single_live_list_iterator(host: Host) -> None:
    async def body(obj: Any, ctx: Any) -> Any:
        kv = ctx.storage.kv
        kv.put("a", 1)
        kv.put("b", 2)
        assert kv.get("a") == 1 and kv.get("zz") is None
        assert kv.delete("a") is True and kv.delete("a") is False
        first = kv.list()
        kv.list(prefix="b")  # a newer iterator invalidates the first
        with pytest.raises(DurableObjectError, match="iterator was invalidated"):
            next(first)
        return [list(pair) for pair in kv.list()]

    assert await _run(host, body) == [["b", 2]]


async def test_list_ids_names_objects_with_storage(host: Host) -> None:
    await _run(host, lambda obj, ctx: ctx.storage.put("k", 1), "one")
    await _run(host, lambda obj, ctx: ctx.storage.put("k", 1), "two")
    ids = {i.toString() for i in list_durable_object_ids(host.ns())}
    assert ids == {host.ns().idFromName(n).toString() for n in ("one", "two")}


async def test_javascript_values_from_to_js_are_stored_as_python_values(host: Host) -> None:
    from cfemu.runtime.js_module.convert import to_js

    async def body(obj: Any, ctx: Any) -> Any:
        await ctx.storage.put("list", to_js(["a", "b"]))
        await ctx.storage.put("map", to_js({"k": 1}))
        return await ctx.storage.get("list"), dict(await ctx.storage.get("map"))

    assert await _run(host, body) == (["a", "b"], {"k": 1})
