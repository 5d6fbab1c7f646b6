"""Memory per queued message (issue 12: at most 350 bytes beside the body, in memory and
persisted). ``benchmarks/bench_memory.py`` measures RSS at 100k and 1M messages; this guard
counts Python's allocations for 10k with tracemalloc, which sees requested sizes: the
allocator rounds each object up to 16 bytes (about 20 bytes a message in RSS), so the guard
holds the traced overhead to 300 bytes (measured: about 230 in memory, 260 persisted)."""

from __future__ import annotations

import asyncio
import gc
import logging
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.queues import Broker, ConsumerSettings, MessageBatch

COUNT = 10_000
GUARD = 300


def body(n: int) -> dict[str, object]:
    return {"task": "summarize", "id": n, "text": "lorem ipsum dolor sit amet " * 3}


@pytest.mark.anyio
@pytest.mark.parametrize("persisted", [False, True], ids=["memory", "persisted"])
async def test_a_queued_message_costs_at_most_300_traced_bytes_beside_its_body(
    tmp_path: Path, persisted: bool
) -> None:
    clock = VirtualClock()
    broker = Broker(clock, TaskTracker(), store_path=tmp_path / "q.sqlite" if persisted else None)
    producer = broker.producer("jobs")
    await producer.send(body(-1))  # one-off allocations of the first send
    size = len(orjson.dumps(body(COUNT)))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for start in range(0, COUNT, 500):
            # every message its own send time (the worst case: a batch shares one)
            sends = []
            for n in range(start, start + 500):
                clock.advance(0.001)
                sends.append(producer.send(body(n)))
            await asyncio.gather(*sends)
            del sends
        for _ in range(3):  # let the event loop drop its finished tasks: not the queue's
            await asyncio.sleep(0)
        gc.collect()
        per_message = (tracemalloc.get_traced_memory()[0] - before) / COUNT
    finally:
        tracemalloc.stop()
    assert len(broker.queues["jobs"]) == COUNT + 1
    overhead = per_message - size
    assert overhead <= GUARD, f"{overhead:.0f} bytes a message beside its {size}-byte body"
    await broker.aclose()


async def _traced_per_message(send: Any, tracker: TaskTracker, between: bool) -> float:
    """Traced bytes a message after ``COUNT`` messages sent by ``send`` (sendBatch of 100),
    the broker's tasks run after each call when ``between``."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for start in range(0, COUNT, 100):
            await send([{"body": body(n)} for n in range(start, start + 100)])
            if between:
                await tracker.wait_idle()
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / COUNT
    finally:
        tracemalloc.stop()


@pytest.mark.anyio
async def test_a_send_batch_keeps_orjson_buffers_only_for_what_its_consumer_takes_at_once() -> None:
    """``sendBatch`` keeps orjson's output buffers (4 KiB each, whatever the JSON's size)
    only for the messages its consumer takes at once: the rest of the batch, left waiting,
    is copied to size when it is queued."""
    clock = VirtualClock()
    tracker = TaskTracker()
    broker = Broker(clock, tracker)
    release = asyncio.Event()

    async def stuck(batch: MessageBatch) -> None:
        await release.wait()

    # The first sendBatch: 10 messages leased at once, whose delivery then waits; 90 left.
    broker.set_consumer("jobs", ConsumerSettings(max_batch_size=10, max_batch_timeout=0), stuck)
    producer = broker.producer("jobs")
    size = len(orjson.dumps(body(COUNT)))
    per_message = await _traced_per_message(producer.sendBatch, tracker, between=False)
    assert broker.queues["jobs"].stats().in_flight == 10
    overhead = per_message - size
    assert overhead <= GUARD, f"{overhead:.0f} bytes a message beside its {size}-byte body"
    release.set()
    await broker.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("fate", ["retried", "dead-lettered", "retried whole"])
async def test_a_message_taken_at_once_then_retried_or_dead_lettered_waits_without_its_buffer(
    fate: str,
) -> None:
    """A message leased as its ``sendBatch`` queued it still has orjson's buffer; retried, it
    goes back to wait copied to size, and so does its copy in a dead-letter queue. (A
    delayed message also holds its own due time and heap key: measured 410 traced bytes
    beside the body, ~820 if every tenth kept its 4 KiB buffer.) ``retried whole``: each
    ``sendBatch`` leased whole as it is queued (no stored record made until the retry)."""
    clock = VirtualClock()
    tracker = TaskTracker()
    quiet = logging.Logger("quiet")  # records of 10,000 dead-letter warnings kept by
    quiet.disabled = True  # pytest's log capture would be counted as the queue's
    broker = Broker(clock, tracker, logger=quiet)

    async def later(batch: MessageBatch) -> None:
        batch.retryAll(delaySeconds=60)

    # Each sendBatch: 10 leased at once, then (the tasks run) all 100 delivered and retried.
    settings = ConsumerSettings(max_batch_size=10, max_batch_timeout=0)
    if fate == "retried whole":
        settings = ConsumerSettings(max_batch_size=100, max_batch_timeout=0)
    if fate == "dead-lettered":
        settings = ConsumerSettings(
            max_batch_size=10, max_batch_timeout=0, max_retries=0, dead_letter_queue="dlq"
        )
    broker.set_consumer("jobs", settings, later)
    producer = broker.producer("jobs")
    await producer.sendBatch([{"body": body(-1)}])  # one-off allocations of the first send
    await tracker.wait_idle()
    size = len(orjson.dumps(body(COUNT)))
    per_message = await _traced_per_message(producer.sendBatch, tracker, between=True)
    if fate != "dead-lettered":
        stats = broker.queues["jobs"].stats()
        assert (stats.delayed, stats.retried) == (COUNT + 1, COUNT + 1)
    else:
        assert broker.queues["dlq"].stats().depth == COUNT + 1
    overhead = per_message - size
    assert overhead <= 500, f"{overhead:.0f} bytes a message beside its {size}-byte body"
    await broker.aclose()
