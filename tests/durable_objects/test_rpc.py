"""Namespaces, ids, stubs and RPC (spec: durable-objects.md §2)."""

from __future__ import annotations

import pytest

from cfemu._js import JsDict
from cfemu.durable_objects.errors import (
    DurableObjectError,
    DurableObjectRangeError,
    DurableObjectTypeError,
)
from cfemu.durable_objects.ids import IdFactory
from cfemu.runtime.http import Request
from tests.durable_objects.conftest import Host

pytestmark = pytest.mark.anyio

WORKER = """
from workers import DurableObject, Response, WorkerEntrypoint

class Counter(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.seen = []

    async def increment(self, n=1):
        value = (await self.ctx.storage.get("n") or 0) + n
        await self.ctx.storage.put("n", value)
        return value

    def sync_method(self, a, b):
        return a + b

    async def keep(self, value):
        self.seen.append(value)
        value["touched"] = True
        return self.seen

    async def options(self, first, opts):
        return [first, opts.limit]

    async def who(self):
        return self.ctx.id.name

    async def fail(self):
        raise KeyError("missing thing")

    async def fetch(self, request):
        return Response(f"{request.method} {request.url} {self.ctx.id.name}")

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        stub = self.env.NS.get(self.env.NS.idFromName("from-worker"))
        return Response(str(await stub.increment(3)))
"""


async def test_ids_are_deterministic_by_name_and_round_trip(host: Host) -> None:
    ns = host.start(WORKER).ns()
    a, b = ns.idFromName("x"), ns.idFromName("x")
    assert a.equals(b) and a.toString() == b.toString() and len(a.toString()) == 64
    assert a.name == "x"
    back = ns.idFromString(a.toString())
    assert back.equals(a) and back.name is None
    unique = ns.newUniqueId()
    assert unique.name is None and not unique.equals(ns.newUniqueId())
    # Miniflare's unique key "<worker>-<Class>": the same ids as wrangler dev.
    assert a.toString() == IdFactory("w-Counter").from_name("x").toString()


async def test_id_errors(host: Host) -> None:
    ns = host.start(WORKER).ns()
    with pytest.raises(DurableObjectTypeError, match="must be 64 hex digits"):
        ns.idFromString("abc")
    foreign = IdFactory("other-Counter").from_name("x")
    with pytest.raises(DurableObjectTypeError, match="not valid for this namespace"):
        ns.idFromString(foreign.toString())
    with pytest.raises(DurableObjectError, match="Jurisdiction restrictions are not implemented"):
        ns.newUniqueId(jurisdiction="eu")
    with pytest.raises(DurableObjectRangeError, match="unknown routingMode: nearest"):
        ns.get(ns.idFromName("x"), routingMode="nearest")


async def test_rpc_calls_reach_one_instance_and_storage(host: Host) -> None:
    ns = host.start(WORKER).ns()
    stub = ns.getByName("a")
    assert (stub.name, stub.id.equals(ns.idFromName("a"))) == ("a", True)
    assert [await stub.increment(5), await stub.increment(2)] == [5, 7]
    assert await ns.get(ns.idFromName("a")).increment() == 8  # another stub, same object
    assert await ns.getByName("b").increment() == 1
    assert await stub.sync_method(2, 3) == 5
    assert await stub.who() == "a"
    runtime = host.runtime()
    assert runtime.actors[stub.id.toString()].constructions == 1


async def test_a_stub_does_not_wake_the_object(host: Host) -> None:
    ns = host.start(WORKER).ns()
    ns.getByName("quiet")
    assert host.runtime().actors == {}


async def test_arguments_and_results_are_copies(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    sent = {"k": [1]}
    seen = await stub.keep(sent)
    assert "touched" not in sent  # the object changed its own copy
    seen.append("mine")
    assert isinstance(seen[0], JsDict) and seen[0].touched is True
    assert len(await stub.keep({"k": 2})) == 2  # the object's list did not get "mine"


async def test_keyword_arguments_arrive_as_one_trailing_object(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    assert await stub.options("x", limit=3) == ["x", 3]


async def test_rpc_refuses_what_cannot_cross(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    with pytest.raises(TypeError, match=r"<class 'tuple'> cannot be sent over RPC\."):
        stub.keep((1, 2))
    with pytest.raises(DurableObjectTypeError, match="'alarm' is a reserved method"):
        stub.alarm()
    with pytest.raises(DurableObjectTypeError, match="Method nope does not exist"):
        await stub.nope()


async def test_exceptions_reach_the_caller_as_remote_errors(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    with pytest.raises(DurableObjectError) as info:
        await stub.fail()
    err = info.value
    assert err.remote is True and err.retryable is False and err.durableObjectReset is False
    assert "KeyError" in str(err) and "missing thing" in str(err)
    assert err.durableObjectId == stub.id.toString()
    assert await stub.increment() == 1  # the object still works


async def test_stub_fetch_reaches_the_fetch_handler(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("f")
    response = await stub.fetch("https://do.example/path", method="POST", body="x")
    assert await response.text() == "POST https://do.example/path f"
    response = await stub.fetch(Request("http://x/again"))
    assert (await response.text()).startswith("GET http://x/again")
    with pytest.raises(DurableObjectTypeError, match="Fetch API cannot load: /relative"):
        await stub.fetch("/relative")


async def test_a_worker_handler_calls_an_object(host: Host) -> None:
    host.start(WORKER)
    response = await host.worker.fetch(Request("http://localhost/"))
    assert (response.status, await response.text()) == (200, "3")
    response = await host.worker.fetch(Request("http://localhost/"))
    assert await response.text() == "6"
