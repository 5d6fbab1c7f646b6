"""A project for the Local Explorer: a D1 database and a queue with a dead-letter queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cfemu import Emulator, VirtualClock
from cfemu.explorer import explorer_app

CONFIG = """\
name = "pipeline"
main = "worker.py"
compatibility_date = "2026-11-01"

[[d1_databases]]
binding = "DB"
database_name = "tasks-db"
database_id = "tasks-id"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[[queues.consumers]]
queue = "jobs"
max_batch_size = 10
max_batch_timeout = 1
max_retries = 0
dead_letter_queue = "jobs-dlq"

[[kv_namespaces]]
binding = "CACHE"
id = "cache-id"

[[durable_objects.bindings]]
name = "TALLY"
class_name = "Tally"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Tally"]

[[workflows]]
name = "chores"
binding = "CHORES"
class_name = "Chore"
"""

# The consumer fails every batch while the ``outage`` table has a row, else records each
# body in ``done`` and acks it. ``GET /send?n=N`` sends N messages.
WORKER = """\
from workers import DurableObject, Response, WorkerEntrypoint, WorkflowEntrypoint

class Chore(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("wash")
        async def wash():
            return {"washed": event["payload"]["what"]}

        await wash()
        await step.sleep("rest", "1 hour")

class Tally(DurableObject):
    async def hit(self, n):
        self.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hits (n INTEGER)")
        self.ctx.storage.sql.exec("INSERT INTO hits VALUES (?)", n)
        await self.ctx.storage.put("last", n)

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        n = int(request.url.split("n=")[-1]) if "n=" in request.url else 1
        for i in range(n):
            await self.env.JOBS.send({"task": i})
        return Response.json({"sent": n})

    async def queue(self, batch, env=None, ctx=None):
        down = await self.env.DB.prepare("SELECT count(*) AS n FROM outage").first()
        if down["n"]:
            batch.retryAll()
            return
        for msg in batch.messages:
            await self.env.DB.prepare("INSERT INTO done (body) VALUES (?)").bind(
                str(msg.body)
            ).run()
            msg.ack()
"""

SCHEMA = "CREATE TABLE outage (why TEXT); CREATE TABLE done (id INTEGER PRIMARY KEY, body TEXT)"


def write_project(folder: Path) -> Path:
    """Write the project's ``wrangler.toml`` and ``worker.py`` into ``folder``."""
    (folder / "worker.py").write_text(WORKER)
    config = folder / "wrangler.toml"
    config.write_text(CONFIG)
    return config


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    """A started in-memory emulator of the project, its tables created."""
    async with Emulator.from_config(write_project(tmp_path), clock=VirtualClock()) as emu:
        await emu.env.DB.exec(SCHEMA.replace("; ", ";\n"))
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the explorer's app, in process."""
    transport = httpx.ASGITransport(app=explorer_app(emulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8787") as c:
        yield c
