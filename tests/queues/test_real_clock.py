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
