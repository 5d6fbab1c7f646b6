"""Queue throughput with persistence, against in-memory queues and raw SQLite (on demand).

Run: ``python benchmarks/bench_persistence.py [--messages N] [--rounds R]``. Not collected
by pytest. In one run, interleaved so every mode sees the same machine conditions:

1. in memory: N messages sent with ``sendBatch`` (100 per call), consumed in batches of 100
   (each body read and ``ack()``ed), real clock — the queues benchmark's end-to-end loop;
2. persisted: the same through a :class:`~cfemu.queues.sqlite_store.SqliteStore` (WAL,
   ``synchronous=NORMAL``), timed until the last ack is committed: every message is
   inserted, leased (attempt counted) and deleted on disk;
3. raw sqlite3: the same N messages, serialized beforehand, inserted with ``executemany``,
   100 per transaction, into the store's table layout in WAL mode (no queue at all: what
   writing each message once costs; the persisted queue writes it, updates it at the lease
   and deletes it at the ack).

Prints the ratios; the target is persisted >= 25% of in-memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import bench_queues  # same folder: the shared cfemu end-to-end loop
import orjson

BATCH = 100
TARGET_RATIO = 0.25


async def queue_loop(n: int, store_path: Path | None) -> tuple[float, int]:
    """Messages per second through cfemu (sendBatch(100) -> batches -> ack()), and commits."""
    rate, commits = await bench_queues.cfemu_loop(n, BATCH, store_path)
    if store_path is not None:
        left = sqlite3.connect(store_path).execute("SELECT count(*) FROM messages").fetchone()
        assert left == (0,), left
    return rate, commits


def raw_inserts(n: int, path: Path) -> float:
    """Messages per second inserted by plain sqlite3 into the store's table layout, 100 per
    transaction (WAL, ``synchronous=NORMAL``); rows are serialized before the clock starts."""
    now = time.time()
    ms = int(now * 1000)
    rows = []
    for i, body in enumerate(bench_queues._bodies(n)):
        payload = orjson.dumps(body)
        rows.append((i, os.urandom(16).hex(), "bench", ms, "json", payload, len(payload), now, 0))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY, id TEXT, queue TEXT, "
        "timestamp_ms INTEGER, content_type TEXT, payload, size INTEGER, due REAL, "
        "attempts INTEGER, leased INTEGER)"
    )
    start = time.perf_counter()
    for offset in range(0, n, BATCH):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            rows[offset : offset + BATCH],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cfemu-bench-") as tmp:
        folder = Path(tmp)
        await queue_loop(1000, None)  # warm-up
        await queue_loop(1000, folder / "warm.sqlite")
        memory, persisted, raw, commits = [], [], [], 0
        for r in range(rounds):
            memory.append((await queue_loop(n, None))[0])
            rate, commits = await queue_loop(n, folder / f"queues-{r}.sqlite")
            persisted.append(rate)
            raw.append(raw_inserts(n, folder / f"raw-{r}.sqlite"))
    m, p, w = max(memory), max(persisted), max(raw)
    ratio = p / m
    verdict = "OK" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(f"messages: {n}, best of {rounds} rounds (sendBatch of {BATCH}, batches of {BATCH})")
    print(f"in-memory queues, end to end:        {m:12,.0f} msg/s")
    print(f"persisted queues (SQLite WAL), e2e:  {p:12,.0f} msg/s   ({commits} commits)")
    print(f"raw sqlite3 inserts, {BATCH} per commit: {w:12,.0f} msg/s")
    print(f"ratio persisted / in-memory:         {ratio:12.1%}  (target >= 25%: {verdict})")
    print(f"ratio persisted / raw inserts:       {p / w:12.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
