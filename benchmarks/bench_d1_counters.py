"""What D1's ``rows_read``/``rows_written`` counting costs a point query (issue 21).

Runs ``prepare(SELECT ... WHERE id = ?).bind(i).run()`` (which returns ``meta``, counters
included) and an ``UPDATE ... WHERE id = ?`` ``run()`` on a cfemu D1 database twice,
interleaved: as cfemu runs them, and with the counters replaced by a stand-in that answers
``(0, 0)`` for every statement without looking at it (no ``EXPLAIN`` analysis, no lookup
beyond one dict read). The difference is the counting's cost; issue 21's target: at most
10% of point-query throughput. Prints thread CPU time per query, best of ``--repeat``.

    python benchmarks/bench_d1_counters.py [--n 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections.abc import Iterator
from typing import Any

from cfemu.clock import VirtualClock
from cfemu.d1 import D1Database, open_database
from cfemu.d1.counters import Tally

TARGET = 0.10
_ZERO = Tally(constant=(0, 0))
SCHEMA = "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)"
QUERIES = {
    "point SELECT run()": ("SELECT * FROM t WHERE id = ?", lambda i: (i,)),
    "point UPDATE run()": ("UPDATE t SET age = ? WHERE id = ?", lambda i: (i % 90, i)),
}


class _Uncounted(dict[str, Tally]):
    """A tally table that knows every statement already: ``(0, 0)``, no analysis."""

    def get(self, key: str, default: Any = None) -> Tally:
        return _ZERO


def _rows(n: int) -> Iterator[tuple[int, str, int]]:
    return ((i, f"user{i}", i % 90) for i in range(1, n + 1))


async def _database(n: int, counted: bool) -> D1Database:
    db = open_database(None, clock=VirtualClock())
    await db.exec(SCHEMA)
    insert = db.prepare("INSERT INTO t (id, name, age) VALUES (?, ?, ?)")
    await db.batch([insert.bind(*row) for row in _rows(n)])
    if not counted:
        db._engine.counter.tallies = _Uncounted()  # type: ignore[attr-defined]
    return db


async def _timed(db: D1Database, sql: str, args: Any, n: int) -> float:
    statement = db.prepare(sql)
    await statement.bind(*args(1)).run()  # the one-time analysis is outside the timing
    gc.collect()
    clock = time.thread_time
    start = clock()
    for i in range(1, n + 1):
        await statement.bind(*args(i)).run()
    return clock() - start


async def main(n: int, repeat: int) -> bool:
    print(f"{n:,} queries per run, best of {repeat} interleaved runs, thread CPU time")
    ok = True
    for name, (sql, args) in QUERIES.items():
        best = {True: float("inf"), False: float("inf")}
        for _ in range(repeat):
            for counted in (True, False):
                db = await _database(n, counted)
                try:
                    best[counted] = min(best[counted], await _timed(db, sql, args, n))
                finally:
                    db.close()
        with_counts, without = best[True] / n * 1e6, best[False] / n * 1e6
        cost = max(0.0, with_counts / without - 1)
        verdict = "within" if cost <= TARGET else "over"
        ok &= cost <= TARGET
        print(
            f"{name}: {with_counts:.2f} µs counted, {without:.2f} µs uncounted; "
            f"counting costs {cost:.1%} (ratio - 1), target <= {TARGET:.0%} ({verdict})"
        )
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="queries per run")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved runs per side")
    options = parser.parse_args()
    sys.exit(0 if asyncio.run(main(options.n, options.repeat)) else 1)
