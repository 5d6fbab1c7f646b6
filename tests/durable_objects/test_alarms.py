"""Alarms and eviction (spec: durable-objects.md §6, §7)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cfemu._faults import FaultRule
from cfemu.durable_objects.actor import alarm_retry_delay
from cfemu.durable_objects.errors import DurableObjectError, DurableObjectTypeError
from cfemu.durable_objects.tools import (
    evict_durable_object,
    run_durable_object_alarm,
    run_in_durable_object,
)
from tests.durable_objects.conftest import CONFIG, Host

pytestmark = pytest.mark.anyio

WORKER = """
from datetime import datetime, timezone
from workers import DurableObject, Response, WorkerEntrypoint

RUNS = []
FAIL = {"times": 0}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("ok")


class Counter(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.constructed = True
        RUNS.append(("constructor", None))

    async def schedule(self, ms):
        await self.ctx.storage.setAlarm(ms)

    async def schedule_datetime(self, seconds):
        await self.ctx.storage.setAlarm(datetime.fromtimestamp(seconds, timezone.utc))

    async def get_alarm(self):
        return await self.ctx.storage.getAlarm()

    async def wipe(self):
        await self.ctx.storage.deleteAll()

    async def alarm(self, alarm_info):
        RUNS.append(("alarm", alarm_info.retryCount, await self.ctx.storage.getAlarm()))
        if FAIL["times"] > 0:
            FAIL["times"] -= 1
            raise RuntimeError("alarm failed")
        if alarm_info.scheduledTime == 1:
            return
        if FAIL.get("reschedule"):
            FAIL["reschedule"] = False
            await self.ctx.storage.setAlarm(alarm_info.scheduledTime + 60_000)


class NoAlarm(DurableObject):
    async def schedule(self, ms):
        await self.ctx.storage.setAlarm(ms)
"""

CONFIG_TWO = (
    CONFIG
    + """
[[durable_objects.bindings]]
name = "PLAIN"
class_name = "NoAlarm"

[[migrations]]
tag = "v2"
new_sqlite_classes = ["NoAlarm"]
"""
)


def _runs(host: Host) -> list[tuple[Any, ...]]:
    runs: list[tuple[Any, ...]] = host.worker.module.RUNS
    return [r for r in runs if r[0] == "alarm"]


async def test_an_alarm_fires_at_its_time_on_the_virtual_clock(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    at = host.clock.now_ms() + 30_000
    await stub.schedule(at)
    assert await stub.get_alarm() == at
    await host.advance(29)
    assert _runs(host) == []
    await host.advance(1)
    # While its handler runs, getAlarm() reads as deleted; afterwards it is gone.
    assert _runs(host) == [("alarm", 0, None)]
    assert await stub.get_alarm() is None


async def test_a_datetime_alarm_in_the_past_fires_at_once(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    await stub.schedule_datetime(host.clock.now() - 3600)
    await host.settle()
    assert len(_runs(host)) == 1


async def test_set_alarm_errors(host: Host) -> None:
    host.start(WORKER, CONFIG_TWO)
    with pytest.raises(DurableObjectError, match=r"alarm time <= 0"):
        await host.ns().getByName("a").schedule(0)
    with pytest.raises(DurableObjectError, match=r"must have an alarm\(\) handler"):
        await host.ns("PLAIN").getByName("a").schedule(host.clock.now_ms() + 1000)


async def test_failing_alarm_retries_with_backoff_then_succeeds(host: Host) -> None:
    host.start(WORKER)
    host.worker.module.FAIL["times"] = 2
    stub = host.ns().getByName("a")
    start = host.clock.now()
    await stub.schedule(host.clock.now_ms() + 1000)
    await host.drain()
    assert [r[1] for r in _runs(host)] == [0, 1, 2]  # retryCount of each attempt
    elapsed = host.clock.now() - start
    # 1 s to the alarm, then 2 s and 4 s of backoff, each with up to 25 % jitter.
    assert 1 + 2 + 4 <= elapsed <= 1 + (2 + 4) * 1.25
    assert await stub.get_alarm() is None


async def test_an_always_failing_alarm_is_abandoned_after_six_retries(host: Host) -> None:
    host.start(WORKER)
    host.worker.module.FAIL["times"] = 100
    stub = host.ns().getByName("a")
    await stub.schedule(host.clock.now_ms() + 1000)
    await host.drain()
    assert [r[1] for r in _runs(host)] == [0, 1, 2, 3, 4, 5, 6]
    assert await stub.get_alarm() is None


def test_retry_delays_double_from_two_seconds_with_jitter() -> None:
    rng = random.Random(7)
    for retry, base in enumerate([2, 4, 8, 16, 32, 64]):
        delay = alarm_retry_delay(retry, rng)
        assert base <= delay <= base * 1.25


async def test_an_alarm_set_by_its_handler_is_kept(host: Host) -> None:
    host.start(WORKER)
    host.worker.module.FAIL["reschedule"] = True
    stub = host.ns().getByName("a")
    first = host.clock.now_ms() + 1000
    await stub.schedule(first)
    await host.advance(2)
    assert await stub.get_alarm() == first + 60_000
    await host.advance(60)
    assert len(_runs(host)) == 2


async def test_an_injected_alarm_fault_counts_as_a_failed_attempt(host: Host) -> None:
    host.start(WORKER)
    host.faults.add(
        FaultRule("durable_objects.alarm", "Counter", lambda: RuntimeError("x"), times=1)
    )
    stub = host.ns().getByName("a")
    await stub.schedule(host.clock.now_ms() + 1000)
    await host.drain()
    assert [r[1] for r in _runs(host)] == [1]  # the first attempt never reached the handler


@pytest.mark.parametrize(("date", "deleted"), [("2026-11-01", True), ("2025-01-01", False)])
async def test_delete_all_and_the_alarm_follow_the_compatibility_date(
    host: Host, date: str, deleted: bool
) -> None:
    host.start(WORKER, CONFIG.replace("2026-11-01", date))
    stub = host.ns().getByName("a")
    at = host.clock.now_ms() + 5000
    await stub.schedule(at)
    await stub.wipe()
    assert await stub.get_alarm() == (None if deleted else at)
    await host.drain()
    assert len(_runs(host)) == (0 if deleted else 1)


async def test_run_durable_object_alarm_runs_it_now(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    assert await run_durable_object_alarm(stub) is False
    await stub.schedule(host.clock.now_ms() + 3_600_000)
    assert await run_durable_object_alarm(stub) is True
    assert len(_runs(host)) == 1 and await stub.get_alarm() is None


async def test_idle_objects_are_evicted_after_ten_seconds(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")
    await stub.schedule_datetime(host.clock.now() + 86400)
    await stub.get_alarm()
    await host.advance(9)
    await stub.get_alarm()
    constructors = [r for r in host.worker.module.RUNS if r[0] == "constructor"]
    assert len(constructors) == 1
    await host.advance(10)
    assert await stub.get_alarm() is not None  # storage intact
    constructors = [r for r in host.worker.module.RUNS if r[0] == "constructor"]
    assert len(constructors) == 2


async def test_evict_on_demand_runs_the_constructor_again(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")

    def mark(obj: Any, ctx: Any) -> None:
        obj.marker = "in memory"
        ctx.storage.kv.put("k", "on disk")

    await run_in_durable_object(stub, mark)
    assert evict_durable_object(stub) is True

    def read(obj: Any, ctx: Any) -> Any:
        return getattr(obj, "marker", None), ctx.storage.kv.get("k")

    assert await run_in_durable_object(stub, read) == (None, "on disk")


async def test_run_in_durable_object_propagates_the_functions_error(host: Host) -> None:
    stub = host.start(WORKER).ns().getByName("a")

    def bad(obj: Any, ctx: Any) -> None:
        raise DurableObjectTypeError("mine")

    with pytest.raises(DurableObjectTypeError, match="mine"):
        await run_in_durable_object(stub, bad)
