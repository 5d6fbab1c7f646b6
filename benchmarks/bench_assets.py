"""Static asset requests per second over ``cfemu dev`` against a bare static-file ASGI app.

Run: ``python benchmarks/bench_assets.py [--requests N] [--concurrency C] [--rounds R]``.
Not collected by pytest. Both servers run as their own processes under uvicorn on
127.0.0.1 and are hit by the same client (``C`` keep-alive connections of a minimal
HTTP/1.1 client), rounds interleaved so both see the same machine conditions:

1. ``cfemu dev`` with ``[assets]`` and a Worker (``main``): each request goes through the
   router (is there an asset?), ``html_handling``, ``_headers``, ETag and content type;
2. a bare ASGI app serving the same folder: a dict lookup of the path, the file read from
   disk, ``content-type`` and ``content-length`` (what any static server must do at least).

The request mix is the folder's files (HTML via ``/`` and pretty URLs, CSS, JS, a 64 KiB
image). Prints requests per second of each and the ratio; the target is cfemu >= 50%.
Every request loop is bounded in count and talks to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TARGET_RATIO = 0.50
FILES = {
    "index.html": "<!doctype html><h1>home</h1>" + "x" * 2000,
    "about.html": "<!doctype html><h1>about</h1>" + "x" * 2000,
    "css/site.css": "body { color: #333 }\n" * 200,
    "js/app.js": "console.log('hi');\n" * 200,
    "img/photo.bin": "\0" * 65536,
}
PATHS = ["/", "/about", "/css/site.css", "/js/app.js", "/img/photo.bin"]
BARE_APP = """
import mimetypes, os, sys
ROOT = sys.argv[1]
FILES = {}
for folder, _, names in os.walk(ROOT):
    for name in names:
        full = os.path.join(folder, name)
        FILES["/" + os.path.relpath(full, ROOT)] = full
FILES["/"] = FILES["/index.html"]
FILES["/about"] = FILES["/about.html"]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    full = FILES.get(scope["path"])
    if full is None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    with open(full, "rb") as f:
        body = f.read()
    kind = mimetypes.guess_type(full)[0] or "application/octet-stream"
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

import uvicorn
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_up(port: int) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):  # bounded: 30 s
            try:
                await client.get(f"http://127.0.0.1:{port}/about")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


async def _one_connection(port: int, paths: list[str]) -> None:
    """Send ``paths`` one after another on one keep-alive connection (a minimal HTTP/1.1
    client: far cheaper than httpx, so the servers, not the client, bound the rate)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for path in paths:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            assert status == 200, (status, path)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
    finally:
        writer.close()


async def hammer(port: int, total: int, concurrency: int) -> float:
    """Requests per second: ``total`` requests over ``concurrency`` connections."""
    share = [
        [PATHS[i % len(PATHS)] for i in range(c, total, concurrency)] for c in range(concurrency)
    ]
    start = time.perf_counter()
    await asyncio.gather(*(_one_connection(port, paths) for paths in share))
    return total / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in FILES.items():
            (root / "public" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "public" / name).write_text(text)
        (root / "worker.py").write_text(
            "from workers import Response, WorkerEntrypoint\n"
            "class Default(WorkerEntrypoint):\n"
            "    async def fetch(self, request):\n"
            "        return Response('worker', status=404)\n"
        )
        (root / "wrangler.toml").write_text(
            'name = "bench"\nmain = "worker.py"\ncompatibility_date = "2026-01-01"\n'
            '[assets]\ndirectory = "public"\nbinding = "ASSETS"\n'
        )
        (root / "bare.py").write_text(BARE_APP)
        cfemu_port, bare_port = free_port(), free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        servers = [
            subprocess.Popen(
                [sys.executable, "-m", "cfemu", "dev", "-c", str(root / "wrangler.toml"),
                 "--port", str(cfemu_port), "--in-memory", "--no-api"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [sys.executable, str(root / "bare.py"), str(root / "public"), str(bare_port)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ),
        ]  # fmt: skip
        try:
            asyncio.run(wait_up(cfemu_port))
            asyncio.run(wait_up(bare_port))
            ours, bare = [], []
            for _ in range(args.rounds):
                ours.append(asyncio.run(hammer(cfemu_port, args.requests, args.concurrency)))
                bare.append(asyncio.run(hammer(bare_port, args.requests, args.concurrency)))
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
    best_ours, best_bare = max(ours), max(bare)
    ratio = best_ours / best_bare
    print(f"cfemu dev assets: {best_ours:10,.0f} requests/s")
    print(f"bare ASGI app:    {best_bare:10,.0f} requests/s")
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"ratio:            {ratio:10.0%}  ({verdict} the {TARGET_RATIO:.0%} target)")


if __name__ == "__main__":
    main()
