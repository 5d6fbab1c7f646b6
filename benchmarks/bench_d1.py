"""cfemu's D1 against the standard library's ``sqlite3`` doing the same work (on demand).

Run: ``python benchmarks/bench_d1.py [--n N] [--repeat R] [--all-rows R] [--storage memory
file] [--only point single batch all join] [--wall] [--instructions]``. Not collected by
pytest.

Both sides use the same tables, in one process, one run, each case twice: on an in-memory
database (``memory``) and on a file (``file``: D1's persisted form, WAL with
``synchronous = NORMAL`` on both sides, as ``cfemu dev --persist-to`` opens it):

1. ``point select``: ``await DB.prepare(sql).bind(id).first()`` versus
   ``conn.execute(sql, (id,)).fetchone()``. Target (issue 20): cfemu >= 45% of sqlite3.
2. ``single insert``: ``await DB.prepare(sql).bind(...).run()`` versus ``conn.execute(...)``
   in autocommit mode (one implicit transaction per statement on both sides). No target.
3. ``batch insert``: ``await DB.batch(...)`` of N INSERTs, the statements bound inside the
   timing, versus ``BEGIN``; N x ``conn.execute(...)``; ``COMMIT``. Target: >= 50%.
4. ``all 10k rows``: ``await DB.prepare("SELECT ...").all()`` of ``--all-rows`` rows (10,000
   by default) versus ``fetchall()`` building the same dicts (column name -> value).
   Target: >= 50% (Miniflare took 12.7 ms for it; see docs/performance.md).
5. ``join``: a two-table JOIN returning 100 rows per query (items with their owner's name),
   ``all()`` versus ``fetchall()`` building the same dicts. No target.

Each figure is the best of ``--repeat`` runs (least disturbed by the machine), raw and
cfemu runs interleaved. Times are the thread's CPU time (``time.thread_time``): both sides
are CPU-bound on this one thread, and CPU time is not inflated by other processes on a busy
machine; ``--wall`` uses ``time.perf_counter`` instead. D1 runs on a virtual clock here, so
every query stays on this thread (on a real clock a query outliving its 50 ms slice moves
to the database's thread, whose CPU time this timer would not see).

``--instructions`` counts instructions instead of time (``valgrind --tool=callgrind``, which
must be installed: ``apt-get install valgrind``): each side runs in its own process under
callgrind, once for ``--n`` operations and once for a fifth of them, on the same database,
and the process ends the moment the timed part does; the difference of the two counts, per
operation, is what one operation costs. Instructions do not depend on the machine's load,
so this gives the same ratios on a busy machine as on an idle one (time also pays for
cache misses and page faults, which instructions do not show). It takes a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from pathlib import Path

from cfemu.clock import VirtualClock
from cfemu.d1 import D1Database, open_database

SCHEMA = (
    "CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, "
    "owner_id INTEGER NOT NULL REFERENCES owners(id))",
)
OWNERS = 100
SELECT = "SELECT id, name, score, owner_id FROM items WHERE id = ?"
SELECT_ALL = "SELECT id, name, score, owner_id FROM items"
JOIN = (
    "SELECT items.id, items.name, items.score, owners.name AS owner FROM items "
    "JOIN owners ON owners.id = items.owner_id WHERE items.id BETWEEN ? AND ?"
)
JOIN_ROWS = 100
INSERT = "INSERT INTO items (name, score, owner_id) VALUES (?, ?, ?)"
TARGETS = {"point select": 0.45, "batch insert": 0.50, "all 10k rows": 0.50}

#: The timer: CPU time of this thread by default (both sides are CPU-bound work on this one
#: thread, so a busy machine does not skew the comparison), wall-clock time with --wall.
_clock = time.thread_time
#: Rows of the table ``all()`` reads (--all-rows).
_all_rows = 10_000
#: The point-select table has at least this many rows (the same table for both counts of
#: an --instructions run).
_rows_at_least = 0


def _row(i: int) -> tuple[str, float, int]:
    return (f"item {i}", i * 0.5, i % OWNERS + 1)


def _owners() -> list[tuple[int, str]]:
    return [(i, f"owner {i}") for i in range(1, OWNERS + 1)]


class Storage:
    """Where one run's databases live: in memory, or files in a fresh temporary folder."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._folder: Path | None = None
        self._count = 0

    def path(self) -> Path | None:
        """A new database file (None in memory)."""
        if self.kind == "memory":
            return None
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="cfemu-bench-d1-"))
        self._count += 1
        return self._folder / f"db{self._count}.sqlite"

    def clean(self) -> None:
        """Delete the run's files."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def _raw_db(storage: Storage, rows: int) -> sqlite3.Connection:
    path = storage.path()
    conn = sqlite3.connect(":memory:" if path is None else path, isolation_level=None)
    # D1 enforces foreign keys (cfemu's engine turns them on for every database): the raw
    # side does the same SQLite work, so the ratio measures cfemu's own cost.
    conn.execute("PRAGMA foreign_keys = ON")
    if path is not None:  # what cfemu's engine sets on a persisted database
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    for statement in SCHEMA:
        conn.execute(statement)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO owners (id, name) VALUES (?, ?)", _owners())
    conn.executemany(INSERT, [_row(i) for i in range(rows)])
    conn.execute("COMMIT")
    return conn


async def _d1_db(storage: Storage, rows: int) -> D1Database:
    db = open_database(storage.path(), clock=VirtualClock())
    for statement in SCHEMA:
        await db.exec(statement)
    owners = db.prepare("INSERT INTO owners (id, name) VALUES (?, ?)")
    await db.batch([owners.bind(*owner) for owner in _owners()])
    if rows:
        await db.batch([db.prepare(INSERT).bind(*_row(i)) for i in range(rows)])
    return db


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, object]]:
    """What raw code does to get D1's result shape: one dict per row, column -> value."""
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# Each case: (raw side, cfemu side); each side takes (storage, n) and returns seconds.
def raw_point_select(storage: Storage, n: int) -> float:
    conn = _raw_db(storage, max(n, _rows_at_least))
    start = _clock()
    for i in range(1, n + 1):
        conn.execute(SELECT, (i,)).fetchone()
    elapsed = _clock() - start
    conn.close()
    return elapsed


async def d1_point_select(storage: Storage, n: int) -> float:
    db = await _d1_db(storage, max(n, _rows_at_least))
    start = _clock()
    for i in range(1, n + 1):
        await db.prepare(SELECT).bind(i).first()
    elapsed = _clock() - start
    db.close()
    return elapsed


def raw_single_insert(storage: Storage, n: int) -> float:
    conn = _raw_db(storage, 0)
    start = _clock()
    for i in range(n):
        conn.execute(INSERT, _row(i))
    elapsed = _clock() - start
    conn.close()
    return elapsed


async def d1_single_insert(storage: Storage, n: int) -> float:
    db = await _d1_db(storage, 0)
    start = _clock()
    for i in range(n):
        await db.prepare(INSERT).bind(*_row(i)).run()
    elapsed = _clock() - start
    db.close()
    return elapsed


def raw_batch_insert(storage: Storage, n: int) -> float:
    conn = _raw_db(storage, 0)
    start = _clock()
    conn.execute("BEGIN")
    for i in range(n):
        conn.execute(INSERT, _row(i))
    conn.execute("COMMIT")
    elapsed = _clock() - start
    conn.close()
    return elapsed


async def d1_batch_insert(storage: Storage, n: int) -> float:
    db = await _d1_db(storage, 0)
    start = _clock()
    stmt = db.prepare(INSERT)
    results = await db.batch([stmt.bind(*_row(i)) for i in range(n)])
    elapsed = _clock() - start
    assert len(results) == n
    db.close()
    return elapsed


def _all_queries(n: int) -> int:
    return max(3, n // 1000)


def raw_all(storage: Storage, n: int) -> float:
    conn = _raw_db(storage, _all_rows)
    start = _clock()
    for _ in range(_all_queries(n)):
        rows = _dicts(conn.execute(SELECT_ALL))
    elapsed = _clock() - start
    assert len(rows) == _all_rows
    conn.close()
    return elapsed


async def d1_all(storage: Storage, n: int) -> float:
    db = await _d1_db(storage, _all_rows)
    start = _clock()
    for _ in range(_all_queries(n)):
        result = await db.prepare(SELECT_ALL).all()
    elapsed = _clock() - start
    assert len(result.results) == _all_rows
    db.close()
    return elapsed


def _join_queries(n: int) -> int:
    return max(10, n // 10)


def _join_range(i: int) -> tuple[int, int]:
    first = (i * JOIN_ROWS) % (_all_rows - JOIN_ROWS) + 1
    return first, first + JOIN_ROWS - 1


def raw_join(storage: Storage, n: int) -> float:
    conn = _raw_db(storage, _all_rows)
    start = _clock()
    for i in range(_join_queries(n)):
        rows = _dicts(conn.execute(JOIN, _join_range(i)))
    elapsed = _clock() - start
    assert len(rows) == JOIN_ROWS
    conn.close()
    return elapsed


async def d1_join(storage: Storage, n: int) -> float:
    db = await _d1_db(storage, _all_rows)
    start = _clock()
    for i in range(_join_queries(n)):
        result = await db.prepare(JOIN).bind(*_join_range(i)).all()
    elapsed = _clock() - start
    assert len(result.results) == JOIN_ROWS
    db.close()
    return elapsed


Side = Callable[[Storage, int], float]
D1Side = Callable[[Storage, int], Awaitable[float]]
#: name -> (raw side, cfemu side, operations per run for n)
CASES: dict[str, tuple[Side, D1Side, Callable[[int], int]]] = {
    "point select": (raw_point_select, d1_point_select, lambda n: n),
    "single insert": (raw_single_insert, d1_single_insert, lambda n: n),
    "batch insert": (raw_batch_insert, d1_batch_insert, lambda n: n),
    "all 10k rows": (raw_all, d1_all, _all_queries),
    "join": (raw_join, d1_join, _join_queries),
}


async def _best_pair(raw: Side, d1: D1Side, kind: str, n: int, repeat: int) -> tuple[float, float]:
    """Best time of each side, the runs interleaved (raw, cfemu, raw, cfemu, ...) so that a
    busy machine slows both alike; garbage is collected before each run, outside the timing."""
    raw_best = d1_best = float("inf")
    for _ in range(repeat):
        storage = Storage(kind)
        try:
            gc.collect()
            raw_best = min(raw_best, raw(storage, n))
            gc.collect()
            d1_best = min(d1_best, await d1(storage, n))
        finally:
            storage.clean()
    return raw_best, d1_best


def _verdict(name: str, ratio: float) -> tuple[str, bool]:
    """What the table says of ``ratio`` against the case's target, and whether it is met."""
    target = TARGETS.get(name)
    if target is None:
        return "-", True
    met = ratio >= target
    return f">= {target:.0%} " + ("ok" if met else "MISSED"), met


async def main(n: int, repeat: int, storages: list[str], only: list[str] | None) -> bool:
    """Run every comparison; True when every target is met."""
    ok = True
    timer = "wall-clock" if _clock is time.perf_counter else "thread CPU"
    print(f"{n:,} operations each (all(): {_all_rows:,} rows), best of {repeat} interleaved")
    print(f"runs, {timer} time; memory = in-memory database, file = persisted (WAL)")
    header = f"{'case':<14} {'storage':<7} {'sqlite3 ops/s':>14} {'cfemu ops/s':>12}"
    print(f"{header} {'cfemu µs/op':>12} {'ratio':>7}  target")
    for name, (raw, d1, operations) in CASES.items():
        if only and name.split()[0] not in only:
            continue
        for kind in storages:
            raw_time, d1_time = await _best_pair(raw, d1, kind, n, repeat)
            ops = operations(n)
            raw_rate, d1_rate = ops / raw_time, ops / d1_time
            ratio = d1_rate / raw_rate
            verdict, met = _verdict(name, ratio)
            ok = ok and met
            print(
                f"{name:<14} {kind:<7} {raw_rate:>14,.0f} {d1_rate:>12,.0f} "
                f"{d1_time / ops * 1e6:>12,.1f} {ratio:>7.1%}  {verdict}"
            )
    return ok


def _ending_clock() -> Callable[[], float]:
    """The clock of an --instructions child: its second reading ends the process at once,
    so what callgrind counts stops where the timed part does (no clean-up counted)."""
    readings = 0

    def clock() -> float:
        nonlocal readings
        readings += 1
        if readings == 2:
            sys.stdout.flush()
            os._exit(0)
        return 0.0

    return clock


def _child(case: str, side: str, kind: str, n: int) -> None:
    """One side of one case, run once (under callgrind, by :func:`_count`)."""
    raw, d1, _ = next(sides for name, sides in CASES.items() if name.split()[0] == case)
    storage = Storage(kind)
    try:
        if side == "raw":
            raw(storage, n)
        else:
            asyncio.run(d1(storage, n))  # type: ignore[arg-type]
    finally:
        storage.clean()
    raise SystemExit("the timed part never ended")


def _count(case: str, side: str, kind: str, n: int, rows: int) -> int:
    """Instructions of one --instructions child, start to end of the timed part."""
    with tempfile.TemporaryDirectory(prefix="cfemu-bench-d1-cg-") as folder:
        out = Path(folder) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            sys.executable, __file__, "--child", case, side, kind, str(n),
            "--all-rows", str(_all_rows), "--rows-at-least", str(rows),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts in every run
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no instruction total in callgrind's output for {case} {side}")


def instructions(n: int, storages: list[str], only: list[str] | None) -> bool:
    """Every comparison in instructions per operation (see the module docstring)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    small = max(1, n // 5)
    print(f"instructions per operation: ({n:,} operations) - ({small:,}), under callgrind")
    header = f"{'case':<14} {'storage':<7} {'sqlite3 instr':>14} {'cfemu instr':>12}"
    print(f"{header} {'ratio':>7}  target")
    ok = True
    for name, (_, _, operations) in CASES.items():
        case = name.split()[0]
        if only and case not in only:
            continue
        for kind in storages:
            sides = [side for side in ("raw", "cfemu") for _ in (small, n)]
            sizes = [small, n, small, n]
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                counted = pool.map(_count, repeat(case), sides, repeat(kind), sizes, repeat(n))
                totals = list(counted)
            ops = operations(n) - operations(small)
            raw_per_op = (totals[1] - totals[0]) / ops
            d1_per_op = (totals[3] - totals[2]) / ops
            ratio = raw_per_op / d1_per_op
            verdict, met = _verdict(name, ratio)
            ok = ok and met
            print(
                f"{name:<14} {kind:<7} {raw_per_op:>14,.0f} {d1_per_op:>12,.0f} "
                f"{ratio:>7.1%}  {verdict}"
            )
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=10_000, help="operations per case")
    parser.add_argument("--repeat", type=int, default=7, help="runs per case (best kept)")
    parser.add_argument("--all-rows", type=int, default=10_000, help="rows all() reads")
    parser.add_argument(
        "--storage", nargs="+", choices=["memory", "file"], default=["memory", "file"]
    )
    parser.add_argument(
        "--only", nargs="+", choices=[name.split()[0] for name in CASES], help="cases to run"
    )
    parser.add_argument("--wall", action="store_true", help="time with the wall clock")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions (callgrind) instead"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--rows-at-least", type=int, default=0, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.wall:
        _clock = time.perf_counter
    _all_rows = max(arguments.all_rows, JOIN_ROWS + 1)
    _rows_at_least = arguments.rows_at_least
    if arguments.child:
        case, side, kind, count = arguments.child
        _clock = _ending_clock()
        _child(case, side, kind, int(count))
    if arguments.instructions:
        ok = instructions(arguments.n, arguments.storage, arguments.only)
    else:
        ok = asyncio.run(main(arguments.n, arguments.repeat, arguments.storage, arguments.only))
    raise SystemExit(0 if ok else 1)
