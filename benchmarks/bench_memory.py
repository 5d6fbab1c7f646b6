"""Memory per queued message, in memory and persisted (issue 12: at most 350 bytes + the body).

Fills one queue (no consumer) with single ``send`` calls of a ~115-byte JSON body on the real
clock (every message its own timestamp and due time: the worst case; ``sendBatch`` shares
them), 1,000 concurrent sends at a time, and prints the process's resident memory (RSS) at
every tenth of the way, so the curve can be seen to be linear, then the bytes per message
beside the body. With ``--tracemalloc`` it also counts the Python allocations exactly (slow).

    python benchmarks/bench_memory.py                 # 100k and 1M, memory and persisted
    python benchmarks/bench_memory.py --counts 100000 --modes memory --tracemalloc

Each run is a fresh process, so one does not inherit another's freed memory.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

TARGET = 350  # bytes per message beside the body
CHUNK = 1000


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``)."""
    with open("/proc/self/statm") as stat:
        pages = int(stat.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def body(n: int) -> dict[str, object]:
    return {"task": "summarize", "id": n, "text": "lorem ipsum dolor sit amet " * 3}


async def fill(count: int, mode: str, folder: Path, traced: bool) -> dict[str, object]:
    import orjson

    from cfemu._tasks import TaskTracker
    from cfemu.clock import RealClock
    from cfemu.queues import Broker

    store_path = folder / "queues.sqlite" if mode == "persisted" else None
    broker = Broker(RealClock(), TaskTracker(), store_path=store_path)
    producer = broker.producer("jobs")
    await producer.send(body(-1))  # warm up: the first send's one-off allocations
    body_size = len(orjson.dumps(body(10**6)))
    gc.collect()
    if traced:
        tracemalloc.start()
    base_rss = rss_bytes()
    base_traced = tracemalloc.get_traced_memory()[0] if traced else 0
    curve: list[tuple[int, float]] = []
    started = time.perf_counter()
    sent = 0
    step = max(count // 10, CHUNK)
    while sent < count:
        n = min(CHUNK, count - sent)
        await asyncio.gather(*(producer.send(body(sent + i)) for i in range(n)))
        sent += n
        if sent % step == 0 or sent == count:
            gc.collect()
            curve.append((sent, rss_bytes() - base_rss))
    elapsed = time.perf_counter() - started
    traced_per = None
    if traced:
        gc.collect()
        traced_per = (tracemalloc.get_traced_memory()[0] - base_traced) / count
        tracemalloc.stop()
    assert len(broker.queues["jobs"]) == count + 1
    # The slope past the first tenth: fixed costs (SQLite's page cache, the first chunk's
    # event-loop objects) are not per message.
    first_n, first_rss = curve[0]
    per = (curve[-1][1] - first_rss) / (count - first_n)
    await broker.aclose()
    return {
        "mode": mode,
        "count": count,
        "body": body_size,
        "rss_per_message": per,
        "traced_per_message": traced_per,
        "curve": curve,
        "seconds": elapsed,
    }


def child(count: int, mode: str, traced: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(fill(count, mode, Path(tmp), traced))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--modes", nargs="+", default=["memory", "persisted"])
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("COUNT", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1], args.tracemalloc)
        return
    worst = 0.0
    for mode in args.modes:
        for count in args.counts:
            cmd = [sys.executable, __file__, "--child", str(count), mode]
            if args.tracemalloc:
                cmd.append("--tracemalloc")
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            body_size = result["body"]
            per = result["rss_per_message"]
            print(
                f"{mode:9} {count:>9,} messages: {per:7.1f} B/message (RSS slope) "
                f"= body {body_size} + {per - body_size:.1f} "
                f"({result['seconds']:.1f} s to fill)"
            )
            if result["traced_per_message"] is not None:
                traced = result["traced_per_message"]
                print(
                    f"{'':9} tracemalloc: {traced:.1f} B/message = body + {traced - body_size:.1f}"
                )
            print("  RSS curve (messages: RSS growth, bytes/message over the last tenth):")
            slopes = []
            previous = None
            for sent, grown in result["curve"]:
                slope = ""
                if previous is not None:
                    step = (grown - previous[1]) / (sent - previous[0])
                    slopes.append(step)
                    slope = f"{step:7.1f}"
                print(f"    {sent:>9,}: {grown / 2**20:8.1f} MiB  {slope}")
                previous = (sent, grown)
            mean = sum(slopes) / len(slopes)
            spread = max(abs(s - mean) for s in slopes) / mean
            print(f"  linear: each tenth's bytes/message within {spread:.1%} of their mean")
            worst = max(worst, per - body_size)
    verdict = "within" if worst <= TARGET else "OVER"
    print(f"worst overhead {worst:.1f} B/message beside the body: {verdict} the {TARGET} B target")


if __name__ == "__main__":
    main()
