"""Queues in memory and persisted, at consumer batch sizes 1, 10 and 100: throughput against
a bare asyncio loop with the same batching, and send -> handler latency percentiles (on
demand).

Run: ``python benchmarks/bench_queues_matrix.py [--messages N] [--samples S] [--rounds R]``.
Not collected by pytest. For each storage (``memory``; ``file``: a
:class:`~cfemu.queues.sqlite_store.SqliteStore`, WAL, ``synchronous=NORMAL``, as
``cfemu dev`` persists) and each ``max_batch_size`` B (``max_batch_timeout = 0``, real
clock), in one run, cfemu and its baseline interleaved:

1. throughput: N messages sent with ``sendBatch`` (100 per call), consumed in batches of up
   to B (each body read and ``ack()``ed; persisted: until the last ack is committed);
   the baseline moves the same dicts through an ``asyncio.Queue`` to a consumer taking up
   to B per step. The ratio is cfemu's rate over the baseline's; target (issue 20): >= 30%
   in memory at B = 100.
2. latency: S times, ``sendBatch`` of B messages, then wait until the handler has them; the
   time from the call to the handler's first line, p50 and p99 (persisted: the send's
   commit included, since a message is accepted only once it is on disk). The baseline's
   p50 is the same round trip through the ``asyncio.Queue``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_queues  # same folder: the shared cfemu end-to-end loop

from cfemu._tasks import TaskTracker
from cfemu.clock import RealClock
from cfemu.queues import Broker, ConsumerSettings, MessageBatch

SEND_BATCH = 100
BATCH_SIZES = (1, 10, 100)
TARGETS = {("memory", 100): 0.30}


async def bare_loop(n: int, batch_size: int) -> float:
    """Messages per second through a plain asyncio.Queue: sendBatch-sized puts, a consumer
    taking up to ``batch_size`` per step (one await per step, as one invocation)."""
    bodies = bench_queues._bodies(n)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    done = asyncio.Event()
    handled = total = 0

    async def consumer() -> None:
        nonlocal handled, total
        while handled < n:
            batch = [await queue.get()]
            while len(batch) < batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            for msg in batch:
                total += msg["i"]
            handled += len(batch)
            await asyncio.sleep(0)  # the next step is a new task turn, as a new invocation
        done.set()

    start = time.perf_counter()
    task = asyncio.create_task(consumer())
    for offset in range(0, n, SEND_BATCH):
        for body in bodies[offset : offset + SEND_BATCH]:
            queue.put_nowait(body)
        await asyncio.sleep(0)
    await done.wait()
    await task
    return n / (time.perf_counter() - start)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]


async def bare_latency(samples: int, batch_size: int) -> list[float]:
    """Seconds from putting ``batch_size`` dicts on an asyncio.Queue to the consumer having
    the first, one round trip at a time."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    out = []
    for i in range(samples):
        sent = time.perf_counter()
        for j in range(batch_size):
            queue.put_nowait({"i": i, "j": j})
        getter = asyncio.ensure_future(queue.get())
        await getter
        out.append(time.perf_counter() - sent)
        while not queue.empty():
            queue.get_nowait()
    return out


async def cfemu_latency(samples: int, batch_size: int, store_path: Path | None) -> list[float]:
    """Seconds from ``sendBatch`` of ``batch_size`` messages to the handler's first line."""
    tracker = TaskTracker()
    broker = Broker(RealClock(), tracker, store_path=store_path)
    arrived: asyncio.Future[float] | None = None

    async def handler(batch: MessageBatch) -> None:
        if arrived is not None and not arrived.done():
            arrived.set_result(time.perf_counter())
        batch.ackAll()

    settings = ConsumerSettings(max_batch_size=batch_size, max_batch_timeout=0)
    broker.set_consumer("lat", settings, handler)
    producer = broker.producer("lat")
    out = []
    for i in range(samples):
        arrived = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        await producer.sendBatch([{"body": {"i": i, "j": j}} for j in range(batch_size)])
        out.append(await arrived - sent)
        await tracker.wait_idle()
    await broker.aclose()
    return out


async def measure(
    storage: str, batch_size: int, n: int, samples: int, rounds: int, folder: Path
) -> dict[str, float]:
    """Best throughput of each side over ``rounds`` interleaved rounds, and the latencies."""
    bare, ours = [], []
    for r in range(rounds):
        path = None if storage == "memory" else folder / f"q-{batch_size}-{r}.sqlite"
        bare.append(await bare_loop(n, batch_size))
        ours.append((await bench_queues.cfemu_loop(n, batch_size, path))[0])
    path = None if storage == "memory" else folder / f"lat-{batch_size}.sqlite"
    lat = await cfemu_latency(samples, batch_size, path)
    base = await bare_latency(samples, batch_size)
    return {
        "bare": max(bare),
        "cfemu": max(ours),
        "p50": statistics.median(lat),
        "p99": _percentile(lat, 0.99),
        "bare_p50": statistics.median(base),
    }


async def main(n: int, samples: int, rounds: int, storages: list[str]) -> bool:
    """Every storage x batch size; True when every target is met."""
    ok = True
    print(f"messages: {n} (sendBatch of {SEND_BATCH}), latency: {samples} round trips, "
          f"best of {rounds} rounds; file = persisted (SQLite WAL)")  # fmt: skip
    print(
        f"{'storage':<8} {'batch':<9} {'bare msg/s':>12} {'cfemu msg/s':>12} {'p50 µs':>8} "
        f"{'p99 µs':>8} {'bare p50 µs':>12} {'ratio':>7}  target"
    )
    with tempfile.TemporaryDirectory(prefix="cfemu-bench-queues-") as tmp:
        await bench_queues.cfemu_loop(1000, SEND_BATCH)  # warm-up
        for storage in storages:
            for size in BATCH_SIZES:
                m = await measure(storage, size, n, samples, rounds, Path(tmp))
                ratio = m["cfemu"] / m["bare"]
                target = TARGETS.get((storage, size))
                verdict = "-"
                if target is not None:
                    verdict = f">= {target:.0%} " + ("ok" if ratio >= target else "MISSED")
                    ok = ok and ratio >= target
                print(
                    f"{storage:<8} {f'batch={size}':<9} {m['bare']:>12,.0f} {m['cfemu']:>12,.0f} "
                    f"{m['p50'] * 1e6:>8,.0f} {m['p99'] * 1e6:>8,.0f} "
                    f"{m['bare_p50'] * 1e6:>12,.1f} {ratio:>7.1%}  {verdict}"
                )
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=1000, help="latency round trips")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--storage", nargs="+", choices=["memory", "file"], default=["memory", "file"]
    )
    args = parser.parse_args()
    ok = asyncio.run(main(args.messages, args.samples, args.rounds, args.storage))
    raise SystemExit(0 if ok else 1)
