"""A real ``cfemu dev`` process survives a consumer raising ``SystemExit``: the message is
retried, then dead-lettered, and the server keeps answering until it is sent SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

TOML = """
name = "exits"
main = "worker.py"
compatibility_date = "2026-11-01"
[[queues.producers]]
binding = "JOBS"
queue = "jobs"
[[queues.producers]]
binding = "DLQ"
queue = "jobs-dlq"
[[queues.consumers]]
queue = "jobs"
max_batch_timeout = 0
max_retries = 1
dead_letter_queue = "jobs-dlq"
"""

WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.method == "POST":
            await self.env.JOBS.send("job")
            return Response("queued", status=202)
        metrics = await self.env.DLQ.metrics()
        return Response.json({"dead": metrics.backlogCount})

    async def queue(self, batch, env=None, ctx=None):
        raise SystemExit(9)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _read_until(stream: asyncio.StreamReader, needle: str, output: list[str]) -> None:
    while True:
        line = (await stream.readline()).decode()
        assert line, f"cfemu dev exited early:\n{''.join(output)}"
        output.append(line)
        if needle in line:
            return


async def test_cfemu_dev_survives_a_consumer_raising_system_exit(tmp_path: Path) -> None:
    (tmp_path / "wrangler.toml").write_text(TOML)
    (tmp_path / "worker.py").write_text(WORKER)
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cfemu",
        "dev",
        "-c",
        str(tmp_path / "wrangler.toml"),
        "--port",
        str(port),
        "--persist-to",
        str(tmp_path / "state"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    output: list[str] = []
    try:
        async with asyncio.timeout(30):
            await _read_until(proc.stdout, "Ready on", output)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                assert (await http.post("/")).status_code == 202
                await _read_until(proc.stdout, 'to dead letter queue "jobs-dlq"', output)
                assert proc.returncode is None  # still running after two SystemExits
                assert (await http.get("/")).json() == {"dead": 1}
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            rest, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = "".join(output) + rest.decode()
    assert proc.returncode == 0, text
    assert text.count("raised SystemExit(9)") >= 2, text  # one log line per failed attempt
