"""Input and output gates, blockConcurrencyWhile, abort, resets (spec: durable-objects.md §5)."""

from __future__ import annotations

import asyncio

import pytest

from cfemu._faults import FaultRule
from cfemu.durable_objects.errors import DurableObjectError
from tests.durable_objects.conftest import Host

pytestmark = pytest.mark.anyio

WORKER = """
import asyncio
from workers import DurableObject, Response, WorkerEntrypoint

LOG = []


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("ok")

FOREVER = None

class Counter(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        LOG.append("constructor")
        if ctx.id.name == "schema":
            async def setup():
                for _ in range(5):
                    await asyncio.sleep(0)
                ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (v)")
                LOG.append("schema ready")
            ctx.blockConcurrencyWhile(setup)  # not awaited, as Cloudflare allows

    async def storage_increment(self):
        value = await self.ctx.storage.get("n") or 0
        await self.ctx.storage.put("n", value + 1)

    async def racy_increment(self):
        value = await self.ctx.storage.get("n") or 0
        await asyncio.sleep(0)  # any non-storage await lets other events in
        await self.ctx.storage.put("n", value + 1)

    async def read(self):
        return await self.ctx.storage.get("n")

    async def note(self, text):
        LOG.append(text)

    async def blocked(self, steps):
        async def critical():
            for i in range(steps):
                LOG.append(f"critical {i}")
                await asyncio.sleep(0)
            return "critical done"
        return await self.ctx.blockConcurrencyWhile(critical)

    async def blocked_failing(self):
        async def critical():
            await asyncio.sleep(0)
            raise RuntimeError("setup failed")
        await self.ctx.blockConcurrencyWhile(critical)

    async def blocked_forever(self):
        global FOREVER
        FOREVER = asyncio.get_running_loop().create_future()
        async def critical():
            await FOREVER
        await self.ctx.blockConcurrencyWhile(critical)

    async def has_table(self):
        return self.ctx.storage.sql.exec(
            "SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").one().n

    async def write_then_abort(self):
        self.ctx.storage.kv.put("lost", True)
        self.ctx.abort("giving up")

    async def later(self):
        async def work():
            await asyncio.sleep(0)
            self.ctx.storage.kv.put("later", True)
        self.ctx.waitUntil(work())
        return self.ctx.storage.kv.get("later")

    async def write(self, key):
        self.ctx.storage.kv.put(key, True)
        return "written"

    async def write_then_fetch(self):
        from workers import fetch

        def sent(request):
            LOG.append("sent")
            return Response("ok")

        self.ctx.storage.kv.put("before", True)
        await fetch("https://example.com/", fetcher=sent)
        return "fetched"
"""


def _log(host: Host) -> list[str]:
    log: list[str] = host.worker.module.LOG
    return log


async def test_storage_awaits_keep_other_events_out(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    await asyncio.gather(*(stub.storage_increment() for _ in range(20)))
    assert await stub.read() == 20


async def test_other_awaits_let_events_interleave(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    await asyncio.gather(*(stub.racy_increment() for _ in range(20)))
    assert await stub.read() < 20  # lost updates, as on Cloudflare (use transaction())


async def test_block_concurrency_while_holds_other_events(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    results = await asyncio.gather(stub.blocked(4), stub.note("other event"))
    assert results[0] == "critical done"
    log = _log(host)
    assert log.index("other event") > log.index("critical 3")


async def test_constructor_block_runs_before_the_first_event(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("schema")
    assert await stub.has_table() == 1
    assert _log(host)[:2] == ["constructor", "schema ready"]


async def test_a_failing_block_resets_the_object(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    await stub.storage_increment()
    with pytest.raises(DurableObjectError) as info:
        await stub.blocked_failing()
    assert "setup failed" in str(info.value)
    assert await stub.read() == 1  # storage survives; the constructor runs again
    assert _log(host).count("constructor") == 2


async def test_a_block_longer_than_30_seconds_resets_the_object(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    call = asyncio.ensure_future(stub.blocked_forever())
    await host.settle()
    assert not call.done()
    await host.advance(31)
    with pytest.raises(DurableObjectError) as info:
        await call
    assert info.value.overloaded and info.value.durableObjectReset
    assert "waited for too long" in str(info.value)


async def test_abort_drops_uncommitted_writes_and_resets(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    with pytest.raises(DurableObjectError) as info:
        await stub.write_then_abort()
    assert str(info.value) == "giving up" and info.value.durableObjectReset
    assert await stub.read() is None
    assert _log(host).count("constructor") == 2


async def test_output_gate_failed_commit_never_answers_success(host: Host) -> None:
    host.start(WORKER)
    stub = host.ns().getByName("a")
    await stub.write("kept")
    host.faults.add(
        FaultRule("durable_objects.commit", "Counter", lambda: OSError("disk gone"), times=1)
    )
    with pytest.raises(DurableObjectError) as info:
        await stub.write("lost")
    assert info.value.durableObjectReset and "disk gone" in str(info.value)

    def keys(obj: object, ctx: object) -> list[str]:
        return [k for k, _ in ctx.storage.kv.list()]  # type: ignore[attr-defined]

    from cfemu.durable_objects.tools import run_in_durable_object

    assert await run_in_durable_object(stub, keys) == ["kept"]


async def test_an_outbound_fetch_waits_for_the_writes_before_it(host: Host) -> None:
    host.start(WORKER)
    stub = host.ns().getByName("a")
    assert await stub.write_then_fetch() == "fetched"
    assert _log(host).count("sent") == 1
    host.faults.add(
        FaultRule("durable_objects.commit", "Counter", lambda: OSError("disk gone"), times=1)
    )
    with pytest.raises(DurableObjectError):
        await stub.write_then_fetch()
    assert _log(host).count("sent") == 1  # the failed commit kept the request from leaving


async def test_wait_until_work_runs_after_the_call_returns(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    assert await stub.later() is None
    await host.settle()

    from cfemu.durable_objects.tools import run_in_durable_object

    def read(obj: object, ctx: object) -> object:
        return ctx.storage.kv.get("later")  # type: ignore[attr-defined]

    assert await run_in_durable_object(stub, read) is True
