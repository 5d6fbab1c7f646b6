"""A real ``cfemu dev`` on loopback: slow sockets are dropped at the header and body
timeouts, a bad Host is a 400, forwarding headers count only with ``--trust-forwarded``."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from cfemu.cli._http_server import HttpOptions, add_http_options, http_options
from cfemu.errors import ConfigError

pytestmark = pytest.mark.anyio

WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        body = await request.bytes()
        echo = {"x-echo": request.headers.get("x-name") or ""}
        return Response(f"{request.url} {len(body)}", headers=echo)
"""
CONFIG = """
name = "echo"
main = "worker.py"
compatibility_date = "2026-01-01"
"""
SLOW_SOCKETS = 60  # bounded: enough to show none is held, cheap on a shared machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    return tmp_path / "wrangler.toml"


@asynccontextmanager
async def _cfemu_dev(config: Path, *options: str) -> AsyncIterator[int]:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cfemu",
        "dev",
        "-c",
        str(config),
        "--port",
        str(port),
        "--in-memory",
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    output: list[str] = []
    try:
        async with asyncio.timeout(30):
            while True:
                line = (await proc.stdout.readline()).decode()
                assert line, f"cfemu dev exited early:\n{''.join(output)}"
                output.append(line)
                if "Ready on" in line:
                    break
        yield port
    finally:
        proc.kill()
        await proc.wait()


async def _slow(port: int, sent: bytes) -> tuple[bytes, float]:
    """Send ``sent`` then nothing; what the server answered and when it closed."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = loop.time()
    if sent:
        writer.write(sent)
        await writer.drain()
    try:
        async with asyncio.timeout(20):
            answer = await reader.read()  # until the server closes the connection
    finally:
        writer.close()
    return answer, loop.time() - started


async def test_slow_sockets_are_closed_at_the_header_and_body_timeouts(project: Path) -> None:
    async with _cfemu_dev(project, "--header-timeout", "1", "--body-timeout", "1") as port:
        silent = [_slow(port, b"") for _ in range(SLOW_SOCKETS // 3)]
        partial = [
            _slow(port, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1\r\n")
            for _ in range(SLOW_SOCKETS // 3)
        ]
        # Half to the Worker, half to the REST API served on the same port.
        stalled_body = [
            _slow(
                port, b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nab" % path
            )
            for path in [b"/", b"/client/v4/accounts"] * (SLOW_SOCKETS // 6)
        ]
        # A complete request, then the next one's headers in part (pipelined, keep-alive).
        pipelined = [
            _slow(port, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHo")
            for _ in range(5)
        ]
        slow = asyncio.gather(*silent, *partial, *stalled_body, *pipelined)
        # While they hang, the server still answers everyone else.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            echoed = await http.post("/", content=b"a full body")
        results = await slow
    assert echoed.text == f"http://127.0.0.1:{port}/ 11"
    n = SLOW_SOCKETS // 3
    for _, took in results:
        # The server's timer starts at accept, the client's clock a little later when the
        # machine is loaded: the lower bound only says "not closed at once".
        assert 0.5 <= took < 10, f"a slow socket was held {took:.1f}s"
    assert all(answer == b"" for answer, _ in results[:n])  # never sent a byte: just closed
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer, _ in results[n : 2 * n])
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer, _ in results[2 * n : 3 * n])
    for answer, took in results[3 * n :]:
        first, _, second = answer.partition(b"HTTP/1.1 408 ")
        assert first.startswith(b"HTTP/1.1 200 ") and second, answer
        assert took < 4, "closed by the 5 s keep-alive timeout, not the header timeout"


async def test_a_bad_host_is_a_400_and_forwarding_headers_need_trust(project: Path) -> None:
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "app.example"}
    async with (
        _cfemu_dev(project) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        bad = await http.get("/", headers={"host": "evil.example/../admin?"})
        untrusted = await http.get("/a?b", headers=forwarded)
    assert bad.status_code == 400 and "invalid Host" in bad.text
    assert untrusted.text == f"http://127.0.0.1:{port}/a?b 0"
    async with (
        _cfemu_dev(project, "--trust-forwarded") as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        trusted = await http.get("/a?b", headers=forwarded)
    assert trusted.text == "https://app.example/a?b 0"


async def test_header_values_travel_as_utf8_both_ways(project: Path) -> None:
    async with _cfemu_dev(project) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = "GET /u HTTP/1.1\r\nHost: localhost\r\nX-Name: Zoë €\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        async with asyncio.timeout(20):
            answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert "x-echo: Zoë €".encode() in answer


def test_timeouts_must_be_positive() -> None:
    parser = argparse.ArgumentParser()
    add_http_options(parser)
    assert http_options(parser.parse_args([])) == HttpOptions()
    options = http_options(parser.parse_args(["--trust-forwarded", "--body-timeout", "2.5"]))
    assert options == HttpOptions(trust_forwarded=True, body_timeout=2.5)
    with pytest.raises(ConfigError, match=r"--header-timeout: must be .* above 0, got 0\.0"):
        http_options(parser.parse_args(["--header-timeout", "0"]))
