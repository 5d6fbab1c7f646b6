"""Friction 7 of issue 15, on the real process: wrangler's verbs (``queues info``,
``pause-delivery``, ``resume-delivery``), cfemu's extras (``peek``, ``redrive``), one error
style, consistent exit codes and aligned tables."""

from __future__ import annotations

import asyncio
import json
import unicodedata
from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from tests.cli.devproc import run_cli

pytestmark = pytest.mark.slow

CONFIG = """\
name = "shape"
main = "worker.py"
compatibility_date = "2026-11-01"

[[d1_databases]]
binding = "DB"
database_name = "shape-db"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[[queues.consumers]]
queue = "jobs"
max_retries = 0
dead_letter_queue = "jobs-dlq"
"""

WORKER = """\
from workers import WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def queue(self, batch, env=None, ctx=None):
        batch.retryAll()  # every message fails: max_retries = 0 dead-letters it at once
"""


def _width(line: str) -> int:
    # A terminal draws the emoji variation selector (U+FE0F, as in 🕒️) in no column.
    return sum(
        0 if c == "\ufe0f" else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line
    )


async def _dead_letter(config: Path, state: Path, count: int) -> None:
    async with Emulator.from_config(config, persist_to=state, clock=VirtualClock()) as emulator:
        await emulator.env.JOBS.sendBatch([{"body": {"n": n}} for n in range(count)])
        await emulator.drain()


async def _undelivered(config: Path, state: Path) -> int:
    async with Emulator.from_config(config, persist_to=state, clock=VirtualClock()) as emulator:
        await emulator.drain()
        return len(emulator.queues["jobs"])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    (tmp_path / "worker.py").write_text(WORKER)
    asyncio.run(_dead_letter(tmp_path / "wrangler.toml", tmp_path / ".cfemu" / "state", 3))
    return tmp_path


def test_peek_redrive_pause_and_resume(project: Path) -> None:
    config, state = project / "wrangler.toml", project / ".cfemu" / "state"
    status, out, err = run_cli("queues", "peek", "jobs-dlq", cwd=project)
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == 4 + 3  # borders, header, and one row per dead-lettered message
    assert len({_width(line) for line in lines}) == 1  # aligned
    assert '{"n": 0}' in lines[3]

    status, out, err = run_cli("queues", "redrive", "jobs-dlq", cwd=project)
    assert (status, out) == (
        0,
        "Moved 3 messages from jobs-dlq back to jobs (retries start afresh).\n",
    )
    info = json.loads(run_cli("queues", "info", "jobs", "--json", cwd=project)[1])
    assert (info["ready"], info["delivery_paused"]) == (3, False)
    assert (
        json.loads(run_cli("queues", "info", "jobs-dlq", "--json", cwd=project)[1])["backlog"] == 0
    )

    status, out, _ = run_cli("queues", "pause-delivery", "jobs", cwd=project)
    assert (status, out) == (0, "Paused message delivery for queue jobs.\n")
    assert "  delivery:       paused\n" in run_cli("queues", "info", "jobs", cwd=project)[1]
    assert asyncio.run(_undelivered(config, state)) == 3  # paused: persisted, nothing delivered
    status, out, _ = run_cli("queues", "resume-delivery", "jobs", cwd=project)
    assert (status, out) == (0, "Resumed message delivery for queue jobs.\n")
    assert asyncio.run(_undelivered(config, state)) == 0  # delivered (and dead-lettered again)

    # inspect stays as a hidden alias of info
    assert run_cli("queues", "inspect", "jobs", cwd=project)[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("queues", "purge", "nope", "--yes"), '✘ [ERROR] Queue "nope" does not exist; queues: '),
        (("queues", "info", "nope"), "✘ [ERROR] no queue 'nope' in "),
        (("queues", "pause-delivery", "nope"), '✘ [ERROR] Queue "nope" does not exist; queues: '),
        (("queues", "peek", "nope"), '✘ [ERROR] Queue "nope" does not exist; queues: '),
        (("d1", "execute", "DB"), "✘ [ERROR] must provide --command or --file.\n"),
        (("d1", "execute", "nope", "--command", "SELECT 1"), "✘ [ERROR] "),
    ],
)
def test_mistakes_fail_with_one_error_line_and_status_1(
    project: Path, args: tuple[str, ...], message: str
) -> None:
    status, out, err = run_cli(*args, cwd=project)
    assert status == 1, out + err
    assert err.startswith(message) and len(err.splitlines()) == 1, err
    assert "Error: " not in err and "Traceback" not in err


def test_migrations_table_is_aligned_with_wide_status_marks(project: Path) -> None:
    (project / "migrations").mkdir()
    (project / "migrations" / "0001_a.sql").write_text("CREATE TABLE a (x);\n")
    (project / "migrations" / "0002_b.sql").write_text("CREATE TABLE b (x);\n")
    status, out, err = run_cli("d1", "migrations", "apply", "DB", cwd=project)
    assert status == 0, err
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if "🕒" in line) - 4
    table = lines[first : first + 6]  # after the first: borders, header, ✅ and 🕒️ rows
    assert "✅" in table[3] and "🕒" in table[4], out
    assert len({_width(line) for line in table}) == 1, out
