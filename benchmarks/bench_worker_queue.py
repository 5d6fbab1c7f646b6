"""Batch-size-1 queue throughput through a real Worker, with and without sibling modules
(on demand).

Run: ``python benchmarks/bench_worker_queue.py [--messages N] [--rounds R]``. Not collected
by pytest. An :class:`~cfemu.emulator.Emulator` on the real clock runs a Worker whose
``queue`` handler acks each message; the consumer has ``max_batch_size = 1`` and
``max_batch_timeout = 0``, so every message is one invocation. The same Worker runs twice:
alone in its folder, and beside sibling modules (``helpers.py``, ``models.py`` and a
package) that it imports, so cfemu installs its own modules around every step of every
invocation (``cfemu.runtime._scope.ModuleSpace``). Prints messages per second of each and
the cost of the isolation (issue 20: batch-size-1 throughput +25% for Workers with sibling
modules, measured against the figure before that work).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """name = "bench"
main = "worker.py"
compatibility_date = "2026-01-01"
[[queues.producers]]
binding = "Q"
queue = "jobs"
[[queues.consumers]]
queue = "jobs"
max_batch_size = 1
max_batch_timeout = 0
"""
WORKER = """{imports}from workers import WorkerEntrypoint
class Default(WorkerEntrypoint):
    async def queue(self, batch, env, ctx):
        for message in batch.messages:
            message.ack()
"""
SIBLINGS = {
    "helpers.py": "def double(x):\n    return 2 * x\n",
    "models.py": "class Job:\n    pass\n",
    "pkg/__init__.py": "VALUE = 1\n",
    "pkg/sub.py": "OTHER = 2\n",
}


async def run(folder: Path, n: int) -> float:
    """Messages per second: ``n`` messages sent 100 at a time, each delivered alone."""
    from cfemu.emulator import Emulator

    emulator = Emulator.from_config(folder / "wrangler.toml")
    async with emulator:
        view = emulator.queues["jobs"]
        producer = emulator.broker.producer("jobs")
        start = time.perf_counter()
        for offset in range(0, n, 100):
            await producer.sendBatch([{"body": {"i": i}} for i in range(offset, offset + 100)])
        while view.stats().acked < n:
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
    return n / elapsed


def project(root: Path, siblings: bool) -> Path:
    """A Worker folder, with or without sibling modules that the Worker imports."""
    folder = root / ("siblings" if siblings else "alone")
    (folder / "pkg").mkdir(parents=True)
    (folder / "wrangler.toml").write_text(CONFIG)
    imports = "import helpers, models, pkg.sub\n" if siblings else ""
    (folder / "worker.py").write_text(WORKER.format(imports=imports))
    if siblings:
        for name, text in SIBLINGS.items():
            (folder / name).write_text(text)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        alone, beside = project(Path(tmp), False), project(Path(tmp), True)
        asyncio.run(run(alone, 500))  # warm-up
        plain, isolated = [], []
        for _ in range(args.rounds):  # interleaved: both see the same machine
            plain.append(asyncio.run(run(alone, args.messages)))
            isolated.append(asyncio.run(run(beside, args.messages)))
    best_plain, best_isolated = max(plain), max(isolated)
    print(f"messages: {args.messages}, best of {args.rounds} rounds, batch size 1")
    print(f"Worker alone in its folder:        {best_plain:10,.0f} msg/s")
    print(f"Worker with sibling modules:       {best_isolated:10,.0f} msg/s")
    print(f"ratio siblings / alone:            {best_isolated / best_plain:10.1%}")


if __name__ == "__main__":
    sys.exit(main())
