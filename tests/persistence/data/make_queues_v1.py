"""How ``queues-v1.sqlite`` was made: run with cfemu at commit 65b2818 (queue state format 1,
``v8`` bodies stored as pickles). Kept to document the fixture; it needs that cfemu to run.

    python tests/persistence/data/make_queues_v1.py tests/persistence/data/queues-v1.sqlite
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.queues import Broker, ConsumerSettings, MessageBatch

START = datetime(2026, 1, 1, tzinfo=UTC)

#: Every v8 body the fixture holds, in send order (the tests compare against these).
V8_BODIES: list[object] = [
    {"nested": [1, {2, 3}], 7: "int key", (1, 2): frozenset({"a"})},
    datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=timezone(timedelta(hours=2))),
    [b"\x00\xff", bytearray(b"ab"), 2**100, -(2**70), float("inf"), -0.0, None, True],
    (date(2026, 2, 3), timedelta(days=1, seconds=2), Decimal("1.10"), complex(1, -2)),
    "a string",
]


async def main(path: Path) -> None:
    clock = VirtualClock(START)
    broker = Broker(clock, TaskTracker(), store_path=path)
    producer = broker.producer("jobs")
    for body in V8_BODIES:
        await producer.send(body, contentType="v8")
    await producer.send({"json": 1})
    await producer.send("text body", contentType="text")
    await producer.send(b"raw", contentType="bytes")
    await producer.send([1, 2], contentType="v8", delaySeconds=3600)
    await broker.producer("jobs-dlq").send({"dead": True}, contentType="v8")
    # one batch left in flight: its lease (attempt 1) is on disk
    started = asyncio.Event()
    hold = asyncio.Event()

    async def handler(batch: MessageBatch) -> None:
        started.set()
        await hold.wait()

    broker.producer("flying")
    broker.set_consumer("flying", ConsumerSettings(max_batch_timeout=0), handler)
    await broker.producer("flying").send({"in": "flight"}, contentType="v8")
    await started.wait()
    store = broker.store
    store.commit()  # type: ignore[attr-defined]
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
    store._conn.close()  # type: ignore[attr-defined]  # as if killed: the lease stays


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
