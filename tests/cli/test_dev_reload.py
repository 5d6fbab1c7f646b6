"""Friction 4 of issue 15, on the real process: saving a Worker module under a running
``cfemu dev`` serves the new code without losing a queued message; saving the config
restarts cleanly; ``--no-reload`` opts out. Waits poll the HTTP endpoint under a deadline."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.cli.devproc import cfemu_dev

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CONFIG = """\
name = "reload"
main = "worker.py"
compatibility_date = "2026-11-01"

[vars]
COLOUR = "red"

[[d1_databases]]
binding = "DB"
database_name = "reload"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[[queues.consumers]]
queue = "jobs"
max_batch_timeout = 0
max_retries = 100
"""

WORKER = """\
from workers import Response, WorkerEntrypoint

VERSION = "{version}"

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        await self.env.DB.exec("CREATE TABLE IF NOT EXISTS done (body TEXT)")
        if request.method == "POST":
            await self.env.JOBS.send(await request.text(), contentType="text")
            return Response("queued", status=202)
        rows = await self.env.DB.prepare("SELECT body FROM done").all()
        done = [r.body for r in rows.results]
        return Response.json({{"version": VERSION, "colour": self.env.COLOUR, "done": done}})

    async def queue(self, batch, env=None, ctx=None):
        for msg in batch.messages:
            if VERSION == "v1":
                msg.retry(delaySeconds=1)  # v1 cannot handle jobs: they wait for v2
            else:
                await self.env.DB.prepare("INSERT INTO done VALUES (?)").bind(msg.body).run()
                msg.ack()
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    (tmp_path / "worker.py").write_text(WORKER.format(version="v1"))
    return tmp_path


async def test_saving_the_worker_serves_the_new_code_and_keeps_the_queued_message(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path)
    async with cfemu_dev("--in-memory", cwd=project) as dev:
        async with dev.client() as http:
            assert (await http.post("/", content="job-1")).status_code == 202
            first = (await http.get("/")).json()
        assert first == {"version": "v1", "colour": "red", "done": []}
        await dev.wait_for_line(lambda line: "QUEUE jobs 1 message: 0 acked, 1 retried" in line)
        (project / "worker.py").write_text(WORKER.format(version="v2"))

        def reloaded_and_done(response: httpx.Response) -> bool:
            body = response.json()
            return body["version"] == "v2" and body["done"] == ["job-1"]

        # In-memory D1 and the queue survived the reload; the retried job reached v2.
        await dev.poll("/", reloaded_and_done)
        assert any(line.startswith("⎔ Reloaded worker.py: Worker 'reload'") for line in dev.lines)

        # A save that does not import keeps v2 serving and says why.
        (project / "worker.py").write_text("import nowhere_to_be_found\n")
        await dev.wait_for_line(lambda line: "nowhere_to_be_found" in line)
        async with dev.client() as http:
            assert (await http.get("/")).json()["version"] == "v2"

        # A config change restarts the emulator with the new vars.
        (project / "worker.py").write_text(WORKER.format(version="v3"))
        await dev.poll("/", lambda r: r.json()["version"] == "v3")
        (project / "wrangler.toml").write_text(CONFIG.replace('"red"', '"blue"'))
        await dev.poll("/", lambda r: r.json()["colour"] == "blue")
        await dev.wait_for_line(lambda line: "wrangler.toml changed: restarting" in line)

        # A config whose Worker cannot start: said once, and the previous one serves again.
        mark = len(dev.lines)
        broken = CONFIG.replace('"red"', '"green"').replace("worker.py", "missing.py")
        (project / "wrangler.toml").write_text(broken)
        await dev.wait_for_line(lambda line: "serving the previous one" in line, start=mark)
        await dev.poll("/", lambda r: r.status_code == 200 and r.json()["colour"] == "blue")
    assert "Traceback" not in dev.output


async def test_no_reload_keeps_the_code_that_was_loaded(tmp_path: Path) -> None:
    project = _project(tmp_path)
    async with cfemu_dev("--in-memory", "--no-reload", cwd=project) as dev:
        (project / "worker.py").write_text(WORKER.format(version="v2"))
        async with dev.client() as http:
            assert (await http.post("/", content="job-1")).status_code == 202
            # Two v1 deliveries, a second apart: time enough for a reload (debounced 150 ms).
            first = await dev.wait_for_line(lambda line: "1 retried" in line)
            start = dev.lines.index(first) + 1
            await dev.wait_for_line(lambda line: "1 retried" in line, start=start)
            assert (await http.get("/")).json()["version"] == "v1"
    assert "Reloaded" not in dev.output
