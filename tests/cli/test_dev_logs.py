"""Friction 3 of issue 15, on the real process: ``cfemu dev`` logs a line per request, queue
batch and cron, shows the Worker's own output, honours ``--log-level`` and colours only a TTY."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest

from cfemu.cli.logs import DevLogFormatter, use_colour
from tests.cli.devproc import cfemu_dev

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

WORKER = """\
from js import console
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.method == "POST":
            print("print from fetch")
            console.log("console.log from fetch")
            console.debug("console.debug from fetch")
            await self.env.JOBS.sendBatch([{"body": n} for n in range(3)])
            return Response("queued", status=202)
        return Response("missing", status=404)

    async def queue(self, batch, env=None, ctx=None):
        for msg in batch.messages:
            if msg.body == 0:
                msg.ack()
            elif msg.body == 1:
                msg.retry()
            # 2: neither; the handler then fails, so it is retried too

        if any(m.body == 2 for m in batch.messages):
            raise RuntimeError("boom")

    async def scheduled(self, controller, env=None, ctx=None):
        console.log("cron ran")
"""

CONFIG = """\
name = "logs"
main = "worker.py"
compatibility_date = "2026-11-01"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[[queues.consumers]]
queue = "jobs"
max_batch_timeout = 0
max_retries = 0
dead_letter_queue = "jobs-dlq"
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    (tmp_path / "worker.py").write_text(WORKER)
    return tmp_path


async def test_dev_logs_requests_batches_crons_and_the_workers_output(tmp_path: Path) -> None:
    project = _project(tmp_path)
    async with cfemu_dev("--in-memory", "--test-scheduled", cwd=project) as dev:
        async with dev.client() as http:
            assert (await http.post("/jobs?x=1")).status_code == 202
            assert (await http.get("/nope")).status_code == 404
            assert (await http.get("/__scheduled", params={"cron": "*/5 * * * *"})).is_success
        await dev.wait_for_line(lambda line: line.startswith("[cfemu:inf] QUEUE jobs "))
        await dev.wait_for_line(lambda line: "CRON" in line)
    out = dev.output
    assert re.search(r"^\[cfemu:inf\] POST /jobs\?x=1 202 Accepted \(\d+ms\)$", out, re.M), out
    assert re.search(r"^\[cfemu:inf\] GET /nope 404 Not Found \(\d+ms\)$", out, re.M), out
    assert re.search(
        r"^\[cfemu:inf\] QUEUE jobs 3 messages: 1 acked, 2 dead-lettered; the invocation "
        r"failed \(\d+ms\)$",
        out,
        re.M,
    ), out
    assert re.search(r"^\[cfemu:inf\] CRON '\*/5 \* \* \* \*' \(logs\) ok \(\d+ms\)$", out, re.M)
    assert "print from fetch\n" in out and "console.log from fetch\n" in out
    assert "console.debug from fetch" not in out  # debug is below the default level, log
    assert "\x1b[" not in out  # not a terminal: no colour


async def test_log_level_warn_keeps_only_warnings_and_errors(tmp_path: Path) -> None:
    project = _project(tmp_path)
    async with cfemu_dev("--in-memory", "--log-level", "warn", cwd=project) as dev:
        async with dev.client() as http:
            assert (await http.post("/")).status_code == 202
        await dev.wait_for_line(lambda line: "Consumer of queue 'jobs' raised" in line)
    assert "[cfemu:inf]" not in dev.output
    assert "[cfemu:err] Consumer of queue 'jobs' raised" in dev.output
    assert "console.log from fetch" not in dev.output
    assert "print from fetch" in dev.output  # print is the Worker's stdout, always shown


async def test_log_level_debug_shows_console_debug(tmp_path: Path) -> None:
    project = _project(tmp_path)
    async with cfemu_dev("--in-memory", "--log-level", "debug", cwd=project) as dev:
        async with dev.client() as http:
            assert (await http.post("/")).status_code == 202
        await dev.wait_for_line(lambda line: "console.debug from fetch" in line)


def test_colour_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(Tty()) and not use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Tty())
    record = logging.LogRecord("cfemu.requests", logging.INFO, "", 0, "GET / %d OK", (200,), None)
    record.status = 200
    assert DevLogFormatter(colour=False).format(record) == "[cfemu:inf] GET / 200 OK"
    coloured = DevLogFormatter(colour=True).format(record)
    assert coloured == "\x1b[36m[cfemu:inf]\x1b[0m GET / \x1b[32m200\x1b[0m OK"
