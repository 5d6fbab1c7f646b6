"""KV ``get`` throughput against raw SQLite reads of the same keys (on demand).

Run: ``python benchmarks/bench_kv.py [--keys N] [--reads R] [--rounds K]``. Not collected by
pytest. In one run, interleaved so both see the same machine conditions:

1. cfemu: ``await env.KV.get(key)`` through a persisted namespace (the file ``cfemu dev``
   uses: WAL, ``synchronous=NORMAL``) on the emulator's binding object — key checks,
   expiry filter, UTF-8 decode included;
2. raw sqlite3: ``SELECT value FROM entries WHERE key = ?`` on a copy of the same file,
   decoded to ``str`` (what any local KV must do at least).

Prints gets per second of each and the ratio; the target is cfemu >= 20% of raw SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from cfemu.clock import RealClock
from cfemu.kv import open_namespace

TARGET_RATIO = 0.20


async def fill(path: Path, keys: list[str]) -> None:
    kv = open_namespace(path, clock=RealClock())
    for i, key in enumerate(keys):
        await kv.put(key, f"value-{i}-" + "x" * 100)
    kv.store.close()


async def cfemu_gets(path: Path, order: list[str]) -> float:
    kv = open_namespace(path, clock=RealClock())
    try:
        start = time.perf_counter()
        for key in order:
            value = await kv.get(key)
            assert value is not None
        return len(order) / (time.perf_counter() - start)
    finally:
        kv.store.close()


def raw_gets(path: Path, order: list[str]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    try:
        start = time.perf_counter()
        for key in order:
            row = conn.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
            assert row[0].decode("utf-8")
        return len(order) / (time.perf_counter() - start)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    keys = [f"user:{i:08d}" for i in range(args.keys)]
    rng = random.Random(0)
    order = [rng.choice(keys) for _ in range(args.reads)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kv" / "bench.sqlite"
        asyncio.run(fill(path, keys))
        copy = Path(tmp) / "raw.sqlite"
        shutil.copy(path, copy)
        ours, raw = [], []
        for _ in range(args.rounds):
            ours.append(asyncio.run(cfemu_gets(path, order)))
            raw.append(raw_gets(copy, order))
    best_ours, best_raw = max(ours), max(raw)
    ratio = best_ours / best_raw
    print(f"cfemu KV get:   {best_ours:12,.0f} gets/s")
    print(f"raw sqlite3:    {best_raw:12,.0f} gets/s")
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"ratio:          {ratio:12.0%}  ({verdict} the {TARGET_RATIO:.0%} target)")


if __name__ == "__main__":
    main()
