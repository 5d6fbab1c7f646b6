"""Memory per queued message (issue 12: at most 350 bytes beside the body, in memory and
persisted). ``benchmarks/bench_memory.py`` measures RSS at 100k and 1M messages; this guard
counts Python's allocations for 10k with tracemalloc, which sees requested sizes: the
allocator rounds each object up to 16 bytes (about 20 bytes a message in RSS), so the guard
holds the traced overhead to 300 bytes (measured: about 230 in memory, 260 persisted)."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path

import orjson
import pytest

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.queues import Broker

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
