"""A config's compatibility_date and flags reach the Worker's handlers and its bindings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cfemu import ConfigError, Emulator, VirtualClock

pytestmark = pytest.mark.anyio

LEGACY_WORKER = """
from workers import Response


async def on_fetch(request, env):
    try:
        sent = await env.JOBS.send({"when": request.url})
    except Exception as exc:
        return Response(str(exc), status=503)
    return Response(str(sent.metadata.metrics.backlogCount), status=202)


def on_queue(batch, env, ctx):
    for message in batch.messages:
        env.SEEN.append((message.body, type(message.body).__name__))
"""


def project(tmp_path: Path, date: str, flags: str = '"python_workers"') -> Path:
    (tmp_path / "entry.py").write_text(textwrap.dedent(LEGACY_WORKER))
    config = tmp_path / "wrangler.toml"
    config.write_text(
        textwrap.dedent(f"""
        name = "legacy"
        main = "entry.py"
        compatibility_date = "{date}"
        compatibility_flags = [{flags}]

        [[queues.producers]]
        binding = "JOBS"
        queue = "jobs"

        [[queues.consumers]]
        queue = "jobs"
        """)
    )
    return config


async def test_an_old_worker_runs_its_module_handlers_with_v8_messages(tmp_path: Path) -> None:
    seen: list[object] = []
    config = project(tmp_path, "2024-03-17")
    async with Emulator.from_config(
        config, clock=VirtualClock(), extra_vars={"SEEN": seen}
    ) as emulator:
        worker = emulator.workers["legacy"]
        assert worker.handlers == {"fetch", "queue"} and worker.compat.date == "2024-03-17"
        async with emulator.client() as client:
            answer = await client.get("/a")
        assert (answer.status_code, answer.text) == (202, "1")
        assert emulator.queues["jobs"].ready()[0].content_type == "v8"
        emulator.faults.queue_send("jobs")
        async with emulator.client() as client:
            refused = await client.get("/b")
        assert (refused.status_code, refused.text) == (503, "Queue send failed: Too Many Requests")
        await emulator.drain()
    assert seen == [({"when": "http://localhost/a"}, "dict")]


async def test_the_same_worker_from_the_cutoff_date_has_no_handler(tmp_path: Path) -> None:
    config = project(tmp_path, "2025-08-14")
    with pytest.raises(Exception, match=r"python_no_global_handlers is on: compatibility_date"):
        async with Emulator.from_config(config, clock=VirtualClock()):
            pass


async def test_the_disable_flag_keeps_module_handlers_after_the_cutoff(tmp_path: Path) -> None:
    config = project(
        tmp_path, "2026-06-01", '"python_workers", "disable_python_no_global_handlers"'
    )
    async with Emulator.from_config(config, clock=VirtualClock(), extra_vars={"SEEN": []}) as emu:
        emu.faults.queue_send("jobs")
        async with emu.client() as client:
            refused = await client.get("/b")
        assert refused.text == "Too Many Requests (10250)"  # queue_expose_error_codes is on


async def test_contradictory_flags_are_a_config_error_naming_the_file(tmp_path: Path) -> None:
    config = project(tmp_path, "2026-06-01", '"queues_json_messages", "no_queues_json_messages"')
    with pytest.raises(ConfigError, match=r"wrangler\.toml: compatibility_flags: Compatibility"):
        async with Emulator.from_config(config, clock=VirtualClock()):
            pass
