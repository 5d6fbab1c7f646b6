"""Friction 1 and 6 of issue 15, on the real ``cfemu`` process: a typo'd key is named with
``file:line:col`` and a suggestion (an error with ``--strict``), config errors print once, and a
Worker that fails to import is one short message with the user's own line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.devproc import free_port, run_cli

pytestmark = pytest.mark.slow

WORKER = """\
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("hi")

    async def queue(self, batch, env=None, ctx=None):
        batch.ackAll()
"""

TYPOS = """\
name = "t"
main = "worker.py"
compatibility_date = "2026-11-01"

[[queue.producers]]
binding = "ORDERS"
queue = "orders"

[[queues.consumers]]
queue = "orders"
max_retires = 2
"""


def _project(tmp_path: Path, config: str, worker: str = WORKER) -> Path:
    (tmp_path / "wrangler.toml").write_text(config)
    (tmp_path / "worker.py").write_text(worker)
    return tmp_path / "wrangler.toml"


def test_strict_dev_refuses_a_typo_with_its_line_and_a_suggestion(tmp_path: Path) -> None:
    config = _project(tmp_path, TYPOS)
    status, out, err = run_cli("dev", "--strict", "--in-memory", "--port", str(free_port()),
                               cwd=tmp_path)  # fmt: skip
    assert status == 1, out + err
    assert err == (
        f"✘ [ERROR] {config}:5:1: queue: unknown key, which wrangler does not know either; "
        "did you mean `queues`? (and 1 more unknown key(s))\n"
    )


def test_dev_warns_once_per_typo_at_the_config_line(tmp_path: Path) -> None:
    config = _project(tmp_path, TYPOS, worker="raise RuntimeError('stop here')\n")
    status, _, err = run_cli("dev", "--in-memory", "--port", str(free_port()), cwd=tmp_path)
    assert status == 1
    lines = err.splitlines()
    assert lines[:2] == [
        f"▲ [WARNING] {config}:5:1: queue: unknown key, which wrangler does not know either; "
        "did you mean `queues`?",
        f"▲ [WARNING] {config}:11:1: queues.consumers[0].max_retires: unknown key, which "
        "wrangler does not know either; did you mean `max_retries`?",
    ]
    assert "cfemu/" not in err  # attributed to the config, not to a line of cfemu


def test_a_config_error_is_printed_once(tmp_path: Path) -> None:
    config = _project(tmp_path, TYPOS.replace("max_retires = 2", "max_retries = 500"))
    status, out, err = run_cli("dev", "--in-memory", "--port", str(free_port()), cwd=tmp_path)
    assert status == 1
    assert err.splitlines()[-1] == (
        f"✘ [ERROR] {config}:11:1: queues.consumers[0].max_retries: must be between 0 and 100, "
        "got 500"
    )
    assert (out + err).count("must be between") == 1
    assert "Traceback" not in out + err and "During handling" not in out + err


def test_a_worker_import_failure_is_one_message_with_the_users_line(tmp_path: Path) -> None:
    _project(
        tmp_path,
        TYPOS.replace("[[queue.producers]]", "[[queues.producers]]").replace("max_retires", "#"),
        worker="import os\nimport helper_that_is_missing\n" + WORKER,
    )
    status, out, err = run_cli("dev", "--in-memory", "--port", str(free_port()), cwd=tmp_path)
    assert status == 1
    assert out == ""
    assert err == (
        f"✘ [ERROR] Worker 't': importing {tmp_path / 'worker.py'} failed: "
        "ModuleNotFoundError: No module named 'helper_that_is_missing'\n"
        f"    at {tmp_path / 'worker.py'}:2: import helper_that_is_missing\n"
    )
