"""Selective redrive: moving a few chosen messages out of a big dead-letter queue.

Run: ``python benchmarks/bench_redrive.py [--picked K] [--repeat R]``. Not collected by
pytest. A dead-letter queue holds N messages (1,000 and 100,000; in memory and persisted);
each run moves K chosen ones (spread over the queue) back to their queue, as the explorer's
**Redrive selected** does (``Broker.move`` with ids), and is timed against the way it was
done before (a walk of the whole queue: promote every delayed message, lease every ready
one, keep the chosen, put the rest back), in the same process, interleaved (each round three
moves by the index, then one by the walk), best of R rounds.

The target: a selective redrive costs what it moves, so moving K of 100,000 messages takes
about what moving K of 1,000 does: the time at 1k is at least 50% of the time at 100k (at
most 2x for a queue 100 times bigger; the walk took about 200 times longer).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.queues import Broker, ConsumerSettings
from cfemu.queues.store import StoredMessage

#: Moving K of 1,000 takes at least this share of the time moving K of 100,000 takes.
TARGET_PERCENT = 50.0


def walk_move(broker: Broker, source: str, target: str, ids: list[str]) -> int:
    """The former selective move: O(queue) (kept here as the baseline)."""
    src, dest = broker._cores[source], broker._cores[target]
    store, now = src.store, broker.clock.now()
    wanted = set(ids)
    with broker.store.transaction():
        store.promote(float("inf"))
        leased = store.lease(store.ready_count)
        chosen = [r for r in leased if r.id in wanted]
        store.unlease([r for r in leased if r.id not in wanted], now, front=True)
        store.settle(chosen, [], now)
        fresh = [StoredMessage(r.id, r.sent, r.content_type, r.payload, now) for r in chosen]
        dest.store.enqueue(fresh, now)
    return len(chosen)


async def filled(n: int, path: Path | None) -> Broker:
    broker = Broker(VirtualClock(), TaskTracker(), store_path=path)

    async def never(batch: Any) -> None:
        raise AssertionError("paused")

    broker.set_consumer("jobs", ConsumerSettings(dead_letter_queue="dlq"), never)
    broker.pause("jobs")
    dlq = broker.producer("dlq")
    for first in range(0, n, 100):
        await dlq.sendBatch([{"body": {"task": i}} for i in range(first, first + 100)])
    return broker


async def measure(n: int, picked: int, repeat: int, persisted: bool) -> dict[str, float]:
    """Best microseconds per selective move, by the index and by the walk."""
    best = {"index": float("inf"), "walk": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        broker = await filled(n, Path(tmp) / "q.sqlite" if persisted else None)
        ids = [m.id for m in broker.queues["dlq"].peek(["ready"], limit=n)]
        step = max(1, len(ids) // (picked * 4 * repeat + 1))
        pool = ids[::step]
        for r in range(repeat):
            # A round: three moves by the index (back to back: the walk evicts the caches),
            # then one by the walk.
            for how in ("index", "index", "index", "walk"):
                chosen, pool = pool[:picked], pool[picked:]
                start = time.perf_counter()
                if how == "index":
                    moved = broker.move("dlq", "jobs", chosen)
                else:
                    moved = walk_move(broker, "dlq", "jobs", chosen)
                took = (time.perf_counter() - start) * 1e6
                assert moved == picked, (how, r, moved)
                best[how] = min(best[how], took)
            if persisted:
                await broker.store.flush()
        await broker.aclose()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--picked", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"moving {args.picked} chosen messages, best of {args.repeat} interleaved runs")
    print(f"{'storage':<10}{'queue':>9}{'index us':>11}{'walk us':>11}{'walk/index':>12}")
    verdicts = []
    for persisted in (False, True):
        where = "persisted" if persisted else "memory"
        small = asyncio.run(measure(1_000, args.picked, args.repeat, persisted))
        big = asyncio.run(measure(100_000, args.picked, args.repeat, persisted))
        for n, figures in ((1_000, small), (100_000, big)):
            print(
                f"{where:<10}{n:>9,}{figures['index']:>11.1f}{figures['walk']:>11.1f}"
                f"{figures['walk'] / figures['index']:>11.0f}x"
            )
        percent = 100 * small["index"] / big["index"]
        ok = "ok" if percent >= TARGET_PERCENT else "MISSED"
        verdicts.append(
            f"{where}: ratio time at 1k / time at 100k {percent:.0f}% "
            f"(target >= {TARGET_PERCENT:.0f}% {ok})"
        )
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
