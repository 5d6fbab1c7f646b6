"""cfemu's D1 against the standard library's ``sqlite3`` doing the same work (on demand).

Run: ``python benchmarks/bench_d1.py [--n N] [--repeat R]``. Not collected by pytest.

Both sides use an in-memory database with the same table, in one process, one run:

1. Point SELECTs: ``await DB.prepare(sql).bind(id).first()`` versus
   ``conn.execute(sql, (id,)).fetchone()``. Target: cfemu >= 20% of sqlite3's rate.
2. Single INSERTs: ``await DB.prepare(sql).bind(...).run()`` versus ``conn.execute(...)``
   in autocommit mode (one implicit transaction per statement on both sides). No target;
   printed for information (``run()`` measures the database size after every write).
3. One batch of N INSERTs: ``await DB.batch(statements)`` (statements bound beforehand)
   versus ``BEGIN``; N x ``conn.execute(...)``; ``COMMIT``. Target: cfemu >= 50%.

Each figure is the best of ``--repeat`` runs (least disturbed by the machine), raw and
cfemu runs interleaved. Times are the thread's CPU time (``time.thread_time``): both sides
are CPU-bound on this one thread, and CPU time is not inflated by other processes on a busy
machine; ``--wall`` uses ``time.perf_counter`` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sqlite3
import time
from collections.abc import Awaitable, Callable

from cfemu.d1 import D1Database, open_database

SCHEMA = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL)"
SELECT = "SELECT id, name, score FROM items WHERE id = ?"
INSERT = "INSERT INTO items (name, score) VALUES (?, ?)"
TARGETS = {"point select": 0.20, "batch insert": 0.50}

#: The timer: CPU time of this thread by default (both sides are CPU-bound work on this one
#: thread, so a busy machine does not skew the comparison), wall-clock time with --wall.
_clock = time.thread_time


def _raw_db(rows: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(SCHEMA)
    conn.execute("BEGIN")
    conn.executemany(INSERT, [(f"item {i}", i * 0.5) for i in range(rows)])
    conn.execute("COMMIT")
    return conn


async def _d1_db(rows: int) -> D1Database:
    db = open_database(None)
    await db.exec(SCHEMA)
    if rows:
        await db.batch([db.prepare(INSERT).bind(f"item {i}", i * 0.5) for i in range(rows)])
    return db


def raw_point_select(n: int) -> float:
    conn = _raw_db(n)
    start = _clock()
    for i in range(1, n + 1):
        conn.execute(SELECT, (i,)).fetchone()
    elapsed = _clock() - start
    conn.close()
    return elapsed


async def d1_point_select(n: int) -> float:
    db = await _d1_db(n)
    start = _clock()
    for i in range(1, n + 1):
        await db.prepare(SELECT).bind(i).first()
    elapsed = _clock() - start
    db.close()
    return elapsed


def raw_single_insert(n: int) -> float:
    conn = _raw_db(0)
    start = _clock()
    for i in range(n):
        conn.execute(INSERT, (f"item {i}", i * 0.5))
    elapsed = _clock() - start
    conn.close()
    return elapsed


async def d1_single_insert(n: int) -> float:
    db = await _d1_db(0)
    start = _clock()
    for i in range(n):
        await db.prepare(INSERT).bind(f"item {i}", i * 0.5).run()
    elapsed = _clock() - start
    db.close()
    return elapsed


def raw_batch_insert(n: int) -> float:
    conn = _raw_db(0)
    params = [(f"item {i}", i * 0.5) for i in range(n)]
    start = _clock()
    conn.execute("BEGIN")
    for p in params:
        conn.execute(INSERT, p)
    conn.execute("COMMIT")
    elapsed = _clock() - start
    conn.close()
    return elapsed


async def d1_batch_insert(n: int) -> float:
    db = await _d1_db(0)
    stmt = db.prepare(INSERT)
    statements = [stmt.bind(f"item {i}", i * 0.5) for i in range(n)]
    start = _clock()
    results = await db.batch(statements)
    elapsed = _clock() - start
    assert len(results) == n
    db.close()
    return elapsed


async def _best_pair(
    raw: Callable[[int], float], d1: Callable[[int], Awaitable[float]], n: int, repeat: int
) -> tuple[float, float]:
    """Best time of each side, the runs interleaved (raw, cfemu, raw, cfemu, ...) so that a
    busy machine slows both alike; garbage is collected before each run, outside the timing."""
    raw_best = d1_best = float("inf")
    for _ in range(repeat):
        gc.collect()
        raw_best = min(raw_best, raw(n))
        gc.collect()
        d1_best = min(d1_best, await d1(n))
    return raw_best, d1_best


async def main(n: int, repeat: int) -> bool:
    """Run every comparison; True when every target is met."""
    cases: list[tuple[str, Callable[[int], float], Callable[[int], Awaitable[float]]]] = [
        ("point select", raw_point_select, d1_point_select),
        ("single insert", raw_single_insert, d1_single_insert),
        ("batch insert", raw_batch_insert, d1_batch_insert),
    ]
    ok = True
    timer = "wall-clock" if _clock is time.perf_counter else "thread CPU"
    print(f"{n:,} operations each, best of {repeat} interleaved runs, {timer} time")
    print(f"{'case':<14} {'sqlite3 ops/s':>14} {'cfemu ops/s':>14} {'ratio':>7}  target")
    for name, raw, d1 in cases:
        raw_time, d1_time = await _best_pair(raw, d1, n, repeat)
        raw_rate, d1_rate = n / raw_time, n / d1_time
        ratio = d1_rate / raw_rate
        target = TARGETS.get(name)
        verdict = (
            "-" if target is None else f">= {target:.0%} " + ("ok" if ratio >= target else "MISSED")
        )
        ok = ok and (target is None or ratio >= target)
        print(f"{name:<14} {raw_rate:>14,.0f} {d1_rate:>14,.0f} {ratio:>7.1%}  {verdict}")
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=10_000, help="operations per case")
    parser.add_argument("--repeat", type=int, default=7, help="runs per case (best kept)")
    parser.add_argument("--wall", action="store_true", help="time with the wall clock")
    arguments = parser.parse_args()
    if arguments.wall:
        _clock = time.perf_counter
    raise SystemExit(0 if asyncio.run(main(arguments.n, arguments.repeat)) else 1)
