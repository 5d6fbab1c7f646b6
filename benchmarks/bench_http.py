"""``cfemu dev`` against a bare uvicorn app on the same HTTP stack (on demand).

Run: ``python benchmarks/bench_http.py [--requests N] [--concurrency C ...] [--rounds R]``.
Not collected by pytest. Both servers run as their own processes under uvicorn (httptools
parser, asyncio loop: what ``cfemu dev`` uses) on 127.0.0.1 and are hit by the same
minimal keep-alive HTTP/1.1 client, rounds interleaved so both see the same machine:

1. ``cfemu dev`` serving a Worker whose ``fetch`` returns ``Response("ok")``;
2. a bare ASGI app answering ``ok`` (what any server must do at least) on uvicorn's own
   httptools protocol: the target's baseline;
3. the same bare app on cfemu's HTTP/1.1 protocol (``cfemu dev`` serves connections with
   its own protocol, on httptools too, which writes a response in one system call where
   uvicorn's takes two): how much the Worker path itself costs.

The load comes from ``wrk`` when it is installed (``apt-get install wrk``: a C load
generator, so the servers, not the client, set the rate), else from a minimal keep-alive
Python client in this process (``--client python``), which on a 2-core machine competes
with the server it measures and caps the faster ones. Each round also reads each server's
CPU time (user + system, from ``/proc``) and prints it per request: what serving a request
costs the server, which moves far less with the machine's load than requests per second.

Prints requests per second of each and the ratios at each concurrency; the target is
cfemu >= 80% of the bare app on uvicorn's protocol. Every request loop is bounded and talks
to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_assets import free_port, wait_up

TARGET_RATIO = 0.80
BARE_APP = """
import sys, uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/plain;charset=UTF-8"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})

http = sys.argv[2]
if http == "cfemu":  # cfemu dev's own protocol
    from cfemu.cli._http_protocol import protocol_class
    http = protocol_class(10.0)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, http=http, loop=sys.argv[3], lifespan="off")
"""
WORKER = (
    "from workers import Response, WorkerEntrypoint\n"
    "class Default(WorkerEntrypoint):\n"
    "    async def fetch(self, request):\n"
    "        return Response('ok')\n"
)


async def _one_connection(port: int, count: int) -> None:
    """``count`` GETs one after another on one keep-alive connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /about HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 "), head
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
    finally:
        writer.close()


async def hammer(port: int, total: int, concurrency: int) -> float:
    """Requests per second: ``total`` requests over ``concurrency`` connections."""
    share = [len(range(c, total, concurrency)) for c in range(concurrency)]
    start = time.perf_counter()
    await asyncio.gather(*(_one_connection(port, n) for n in share))
    return total / (time.perf_counter() - start)


def server_cpu(pid: int) -> float | None:
    """The process's CPU time so far (user + system seconds), or ``None`` off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(port: int, seconds: int, concurrency: int) -> tuple[float, int]:
    """Requests per second and requests made: ``wrk`` for ``seconds`` over ``concurrency``
    keep-alive connections (one thread); every answer must be a 2xx."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", f"http://127.0.0.1:{port}/about"],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw failed requests:\n{out}")
    made = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if made is None or rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(rate.group(1)), int(made.group(1))


def measure(
    server: subprocess.Popen[bytes], port: int, args: argparse.Namespace, concurrency: int
) -> tuple[float, float | None]:
    """One round against one server: requests per second, its CPU seconds per request."""
    before = server_cpu(server.pid)
    if args.client == "wrk":
        rate, made = run_wrk(port, args.duration, concurrency)
    else:
        rate, made = asyncio.run(hammer(port, args.requests, concurrency)), args.requests
    after = server_cpu(server.pid)
    cpu = None if before is None or after is None else (after - before) / made
    return rate, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--client",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="the load generator (default: wrk when installed)",
    )
    parser.add_argument("--requests", type=int, default=3000, help="per round (python client)")
    parser.add_argument("--duration", type=int, default=2, help="seconds per round (wrk)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bare-http", default="httptools", choices=["h11", "httptools"])
    parser.add_argument("--bare-loop", default="asyncio", choices=["asyncio", "uvloop"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "worker.py").write_text(WORKER)
        (root / "wrangler.toml").write_text(
            'name = "bench"\nmain = "worker.py"\ncompatibility_date = "2026-01-01"\n'
        )
        (root / "bare.py").write_text(BARE_APP)
        cfemu_port, bare_port, same_port = free_port(), free_port(), free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        servers = [
            subprocess.Popen(
                [sys.executable, "-m", "cfemu", "dev", "-c", str(root / "wrangler.toml"),
                 "--port", str(cfemu_port), "--in-memory", "--no-api"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [sys.executable, str(root / "bare.py"), str(bare_port), args.bare_http,
                 args.bare_loop],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [sys.executable, str(root / "bare.py"), str(same_port), "cfemu", args.bare_loop],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ),
        ]  # fmt: skip
        try:
            asyncio.run(wait_up(cfemu_port))
            asyncio.run(wait_up(bare_port))
            asyncio.run(wait_up(same_port))
            results = []
            for concurrency in args.concurrency:
                rounds: list[list[tuple[float, float | None]]] = [[], [], []]
                for _ in range(args.rounds):
                    for runs, server, port in zip(
                        rounds, servers, (cfemu_port, bare_port, same_port), strict=True
                    ):
                        runs.append(measure(server, port, args, concurrency))
                results.append((concurrency, rounds))
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
    print(f"load generator: {args.client}")
    for concurrency, rounds in results:
        best_ours, best_bare, best_same = (max(rate for rate, _cpu in runs) for runs in rounds)
        ratio = best_ours / best_bare
        verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
        c = f"c={concurrency:<3}"
        print(f"{c} cfemu dev:                    {best_ours:10,.0f} requests/s")
        print(f"{c} bare app, uvicorn's protocol: {best_bare:10,.0f} requests/s")
        print(f"{c} bare app, cfemu's protocol:   {best_same:10,.0f} requests/s")
        target = f"{verdict} the {TARGET_RATIO:.0%} target"
        print(f"{c} ratio to the bare app:        {ratio:10.0%}  ({target})")
        print(f"{c} ratio on the same protocol:   {best_ours / best_same:10.0%}  (the Worker path)")
        cpus = [[cpu for _rate, cpu in runs if cpu is not None] for runs in rounds]
        if all(cpus):
            ours_cpu, bare_cpu, same_cpu = (min(runs) * 1e6 for runs in cpus)
            print(
                f"{c} server CPU per request (us, least of the rounds): cfemu dev "
                f"{ours_cpu:.1f}, bare app {bare_cpu:.1f}, bare app on cfemu's protocol "
                f"{same_cpu:.1f}; bare app / cfemu dev = {bare_cpu / ours_cpu:.2f}"
            )


if __name__ == "__main__":
    main()
