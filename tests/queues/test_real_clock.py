"""The same broker on the real clock (what ``cfemu dev`` runs): timers fire, batches flow."""

from __future__ import annotations

import asyncio

import pytest

from cfemu._tasks import TaskTracker
from cfemu.clock import RealClock
from cfemu.queues import Broker, ConsumerSettings, MessageBatch

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_batch_timeout_and_zero_timeout_on_the_real_clock() -> None:
    tracker = TaskTracker()
    broker = Broker(RealClock(), tracker)
    got: list[list[object]] = []
    done = asyncio.Event()

    async def handler(batch: MessageBatch) -> None:
        got.append([m.body for m in batch.messages])
        if sum(map(len, got)) == 4:
            done.set()

    slow = ConsumerSettings(max_batch_size=10, max_batch_timeout=0.05)
    broker.set_consumer("slow", slow, handler)
    broker.set_consumer("fast", ConsumerSettings(max_batch_size=10, max_batch_timeout=0), handler)
    await broker.producer("slow").sendBatch([{"body": 1}, {"body": 2}])
    await broker.producer("fast").send(3)
    await broker.producer("fast").send(4)
    try:
        await asyncio.wait_for(done.wait(), timeout=5)
    finally:
        await broker.aclose()
        await tracker.aclose()
    assert got[-1] == [1, 2]  # the timed-out batch comes after the immediate ones
    assert sorted(b for batch in got for b in batch) == [1, 2, 3, 4]


async def test_the_wall_clock_limit_on_the_real_clock_runs_from_each_invocations_start() -> None:
    """On the real clock the limit's one timer outlives an idle spell (nothing waits for it):
    fired for a finished invocation, it ends none started since before its own limit."""
    clock = RealClock()
    tracker = TaskTracker()
    broker = Broker(clock, tracker)
    broker.consumer_wall_clock_limit = 0.3
    ran: list[tuple[str, float]] = []

    async def handler(batch: MessageBatch) -> None:
        started = clock.now()
        body = batch.messages[0].body
        try:
            if body == "stuck":
                await asyncio.Event().wait()
        finally:
            ran.append((body, clock.now() - started))

    settings = ConsumerSettings(max_batch_size=1, max_batch_timeout=0, max_retries=0)
    broker.set_consumer("jobs", settings, handler)
    producer = broker.producer("jobs")
    try:
        await producer.send("quick")  # its limit's timer fires 0.3 s from now, finding it done
        await tracker.wait_idle()
        await asyncio.sleep(0.15)
        await producer.send("stuck")  # ... while this one has run 0.15 s of its 0.3 s
        await asyncio.wait_for(tracker.wait_idle(), timeout=5)
    finally:
        await broker.aclose()
        await tracker.aclose()
    assert [body for body, _ in ran] == ["quick", "stuck"]
    assert ran[1][1] >= 0.29
    assert broker.queues["jobs"].stats().dropped == 1
