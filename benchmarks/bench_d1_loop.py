"""How a long D1 query shares the event loop: the measurements behind cfemu.d1._offload.

Prints, for one machine:

* the cost of a point query on the loop (the default), with the loop-slice check armed
  (a real clock), and forced onto the database's thread (a hop per query);
* the longest stall of the event loop while a long query (about a second) runs, on the loop
  (a virtual clock: no slicing) and with slicing (a real clock: moved to the thread after
  the slice).

Run: ``python benchmarks/bench_d1_loop.py``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from cfemu.clock import RealClock, VirtualClock
from cfemu.d1 import D1Database, open_database

LONG = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?) "
    "SELECT count(*) AS c FROM n"
)
POINT = "SELECT v FROM t WHERE id = ?"


async def setup(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    insert = db.prepare("INSERT INTO t (v) VALUES (?)")
    await db.batch([insert.bind(f"value {n}") for n in range(1000)])


async def point_queries(db: D1Database, n: int = 20_000) -> float:
    stmt = db.prepare(POINT)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for i in range(n):
            await stmt.bind(i % 1000 + 1).first()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


async def longest_stall(db: D1Database, rows: int) -> tuple[float, float]:
    """(query seconds, longest gap between two turns of the loop while it ran)."""
    done = False
    gap = 0.0

    async def ticker() -> None:
        nonlocal gap
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0)
            now = time.perf_counter()
            gap = max(gap, now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = time.perf_counter()
    await db.prepare(LONG).bind(rows).first()
    took = time.perf_counter() - start
    done = True
    await task
    return took, gap


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        on_loop = open_database(Path(tmp) / "a.sqlite", clock=VirtualClock())
        shared = open_database(Path(tmp) / "b.sqlite", clock=RealClock())
        for db in (on_loop, shared):
            await setup(db)
        print("point SELECT by primary key, prepare().bind().first():")
        print(f"  on the loop (virtual clock, no slice)   {await point_queries(on_loop):6.1f} µs")
        print(f"  on the loop, slice armed (real clock)   {await point_queries(shared):6.1f} µs")
        shared._engine.share.slow.add(POINT)
        print(f"  on the database's thread (a hop each)   {await point_queries(shared):6.1f} µs")
        shared._engine.share.slow.clear()
        rows = 1_000_000
        took, gap = await longest_stall(on_loop, rows)
        print(f"a {took:.2f} s query on the loop: the loop stalls {gap * 1000:7.1f} ms")
        took, gap = await longest_stall(shared, rows)
        print(f"a {took:.2f} s query, sliced:      the loop stalls {gap * 1000:7.1f} ms")
        on_loop.close()
        shared.close()


if __name__ == "__main__":
    asyncio.run(main())
