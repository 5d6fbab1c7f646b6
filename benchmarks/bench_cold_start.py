"""Cold start: a new ``cfemu dev`` process to its first answer, against a bare uvicorn app
started the same way (on demand).

Run: ``python benchmarks/bench_cold_start.py [--rounds R]``. Not collected by pytest.
After a first round that is not counted (it writes the bytecode caches an installed package
has), each round, interleaved: start the process, then send ``GET /`` to 127.0.0.1 every 2 ms
until a ``200`` comes back; the time from ``Popen`` to that answer counts. Then the process
is stopped.

1. ``cfemu dev`` with a one-module Worker answering ``ok``, persisting to a fresh state
   folder (the defaults otherwise: reload on, the REST API and the Local Explorer mounted);
2. a bare ASGI app under uvicorn (httptools, asyncio: ``cfemu dev``'s stack) answering ``ok``;
3. ``python -c pass``: the interpreter's own start-up, in both of the above.

Prints the best of ``--rounds`` for each and the ratio bare / cfemu (how much of the bare
app's speed to first answer cfemu keeps). No target: Miniflare 4 took 746 ms on this
machine (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_assets import free_port
from bench_http import BARE_APP, WORKER

#: Python may write bytecode caches, as an installed package has them (pip compiles on
#: install); with PYTHONDONTWRITEBYTECODE set every start would compile cfemu again.
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def _answered(port: int) -> bool:
    """True once ``GET /`` on the port answers 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return conn.recv(64).startswith(b"HTTP/1.1 200 ")
    except OSError:
        return False


def first_answer(command: list[str], port: int, limit: float = 60.0) -> float:
    """Seconds from starting ``command`` to its first 200 on ``port``; the process is stopped."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
    )
    try:
        while not _answered(port):
            if process.poll() is not None:
                raise RuntimeError(f"{command[:4]} exited with {process.returncode}")
            if time.perf_counter() - start > limit:
                raise TimeoutError(f"{command[:4]} did not answer within {limit:.0f} s")
            time.sleep(0.002)
        return time.perf_counter() - start
    finally:
        process.terminate()
        process.wait(timeout=30)


def python_start() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=ENV)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cfemu-bench-cold-") as tmp:
        root = Path(tmp)
        (root / "worker.py").write_text(WORKER)
        (root / "wrangler.toml").write_text(
            'name = "cold"\nmain = "worker.py"\ncompatibility_date = "2026-01-01"\n'
        )
        (root / "bare.py").write_text(BARE_APP)
        ours, bare, python = [], [], []
        for r in range(-1, args.rounds):  # round -1 writes the bytecode caches: not counted
            port = free_port()
            ours.append(first_answer(
                [sys.executable, "-m", "cfemu", "dev", "-c", str(root / "wrangler.toml"),
                 "--port", str(port), "--persist-to", str(root / f"state-{r}")],
                port,
            ))  # fmt: skip
            port = free_port()
            bare.append(first_answer(
                [sys.executable, str(root / "bare.py"), str(port), "httptools", "asyncio"], port
            ))  # fmt: skip
            python.append(python_start())
            if r < 0:
                ours, bare, python = [], [], []
    c, b, p = min(ours), min(bare), min(python)
    print(f"cold start to first answer, best of {args.rounds} rounds:")
    print(f"cfemu dev:         {c * 1000:8.0f} ms")
    print(f"bare uvicorn app:  {b * 1000:8.0f} ms")
    print(f"python -c pass:    {p * 1000:8.0f} ms (in both)")
    print(f"ratio bare / cfemu: {b / c:7.1%}")


if __name__ == "__main__":
    main()
