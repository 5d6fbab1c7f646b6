"""A small project for persistence tests: one Worker producing to and consuming ``jobs``."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIG = """\
name = "persist"
main = "worker.py"
compatibility_date = "2026-01-01"

[[d1_databases]]
binding = "DB"
database_name = "persist-db"
database_id = "persist-0001"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[[queues.consumers]]
queue = "jobs"
max_batch_size = 10
max_batch_timeout = 0
max_retries = 2
dead_letter_queue = "jobs-dlq"
"""

WORKER = """\
from workers import WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def queue(self, batch, env=None, ctx=None):
        for msg in batch.messages:
            self.env.RECORD.append((batch.queue, msg.id, msg.body["n"], msg.attempts))
            mode = msg.body.get("mode", "ok")
            if mode == "block":
                await self.env.BLOCK()
            if mode == "fail":
                msg.retry()
            else:
                msg.ack()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """``wrangler.toml`` + ``worker.py``; the Worker appends ``(queue, id, n, attempts)`` to
    ``env.RECORD`` per message, awaits ``env.BLOCK()`` for ``mode: block`` bodies and retries
    ``mode: fail`` ones. ``jobs-dlq`` has no consumer: dead letters stay visible."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "wrangler.toml").write_text(CONFIG, encoding="utf-8")
    (folder / "worker.py").write_text(WORKER, encoding="utf-8")
    return folder / "wrangler.toml"
