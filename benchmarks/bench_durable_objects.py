"""Durable Object throughput: RPC calls, storage ops and ``sql.exec`` point reads (on demand).

Run: ``python benchmarks/bench_durable_objects.py [--rows N] [--ops R]``. Not collected by
pytest. One run, on a persisted object (WAL, ``synchronous=NORMAL``, as ``cfemu dev``):

1. RPC calls per second: ``await stub.ping(i)`` from outside the object (a task per event,
   the input gate, argument and result cloning, the output gate);
2. storage ops per second inside the object: ``await storage.put(k, v)`` then
   ``await storage.get(k)``, against raw SQLite doing the same on a key-value table (raw
   SQLite commits each write; the object coalesces the writes of one turn, as Cloudflare
   does, so this ratio can exceed 100 %);
3. ``sql.exec("SELECT ... WHERE id = ?", i).one()`` point reads inside the object, against
   raw ``sqlite3`` point reads of a copy of the same table (rows fetched as dicts).

Prints each rate and the ratios; the target is ``sql.exec`` point reads >= 20% of raw SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from cfemu import Emulator
from cfemu.testing import run_in_durable_object

TARGET_RATIO = 0.20

WORKER = """
from workers import DurableObject, Response, WorkerEntrypoint

class Bench(DurableObject):
    async def ping(self, n):
        return n

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("ok")
"""

CONFIG = """
name = "bench"
main = "worker.py"
compatibility_date = "2026-11-01"

[[durable_objects.bindings]]
name = "BENCH"
class_name = "Bench"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Bench"]
"""


def raw_point_reads(path: Path, order: list[int]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    try:
        start = time.perf_counter()
        for i in order:
            cur = conn.execute("SELECT id, name, score FROM items WHERE id = ?", (i,))
            columns = [d[0] for d in cur.description]
            row = dict(zip(columns, cur.fetchone(), strict=True))
            assert row["id"] == i
        return len(order) / (time.perf_counter() - start)
    finally:
        conn.close()


def raw_kv_ops(path: Path, ops: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID")
    try:
        start = time.perf_counter()
        for i in range(ops):
            key = f"k{i % 100}".encode()
            conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, str(i).encode()))
            conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return 2 * ops / (time.perf_counter() - start)
    finally:
        conn.close()


async def run(rows: int, ops: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "worker.py").write_text(WORKER)
        (folder / "wrangler.toml").write_text(CONFIG)
        results: dict[str, float] = {}
        async with Emulator.from_config(folder / "wrangler.toml", persist_to=folder / "s") as emu:
            stub = emu.env.BENCH.getByName("bench")
            await stub.ping(0)
            start = time.perf_counter()
            for i in range(ops):
                assert await stub.ping(i) == i
            results["rpc calls/s"] = ops / (time.perf_counter() - start)

            async def kv_ops(obj: Any, ctx: Any) -> float:
                storage = ctx.storage
                begin = time.perf_counter()
                for i in range(ops):
                    key = f"k{i % 100}"
                    await storage.put(key, str(i))
                    await storage.get(key)
                return 2 * ops / (time.perf_counter() - begin)

            results["storage ops/s"] = await run_in_durable_object(stub, kv_ops)

            def fill(obj: Any, ctx: Any) -> None:
                sql = ctx.storage.sql
                sql.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, score REAL)")
                for i in range(rows):
                    sql.exec("INSERT INTO items VALUES (?, ?, ?)", i, f"item {i}", i / 3)

            await run_in_durable_object(stub, fill)
            order = [random.randrange(rows) for _ in range(ops)]

            def point_reads(obj: Any, ctx: Any) -> float:
                sql = ctx.storage.sql
                begin = time.perf_counter()
                for i in order:
                    row = sql.exec("SELECT id, name, score FROM items WHERE id = ?", i).one()
                    assert row["id"] == i
                return len(order) / (time.perf_counter() - begin)

            results["sql.exec point reads/s"] = await run_in_durable_object(stub, point_reads)
            path = next((folder / "s" / "durable_objects").rglob("*.sqlite"))
        results["raw sqlite point reads/s"] = raw_point_reads(path, order)
        results["raw sqlite kv ops/s"] = raw_kv_ops(folder / "raw.sqlite", ops)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--ops", type=int, default=20_000)
    args = parser.parse_args()
    results = asyncio.run(run(args.rows, args.ops))
    for name, rate in results.items():
        print(f"{name:>28}: {rate:12,.0f}")
    reads = results["sql.exec point reads/s"] / results["raw sqlite point reads/s"]
    kv = results["storage ops/s"] / results["raw sqlite kv ops/s"]
    print(f"{'sql.exec / raw point reads':>28}: {reads:12.0%} (target >= {TARGET_RATIO:.0%})")
    print(f"{'storage ops / raw kv ops':>28}: {kv:12.0%}")
    if reads < TARGET_RATIO:
        raise SystemExit("sql.exec point reads are below the target ratio")


if __name__ == "__main__":
    main()
