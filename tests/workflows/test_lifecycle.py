"""pause(), resume(), terminate() and restart() on an instance in each status, on a virtual
clock (the rules of Cloudflare's engine: docs/workflows.md, "Instance lifecycle")."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.workflows import WorkflowError
from tests.workflows.conftest import project

pytestmark = pytest.mark.anyio

SOURCE = """
import asyncio
from workers import WorkflowEntrypoint
from workers.workflows import NonRetryableError

GATES = {}
LOG = []

def gate(instance_id):
    return GATES.setdefault(instance_id, asyncio.Event())

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        mode, me = event["payload"], event["instanceId"]

        @step.do("first")
        async def first():
            LOG.append((me, "first"))
            if mode == "running":
                await gate(me).wait()
            if mode == "errored":
                raise NonRetryableError("no")
            return 1

        await first()
        if mode == "waiting":
            await step.sleep("nap", "1 hour")

        @step.do("second")
        async def second():
            LOG.append((me, "second"))
            return 2

        await second()
        return mode
"""

STATUSES = [
    "queued",
    "running",
    "waitingForPause",
    "waiting",
    "paused",
    "complete",
    "errored",
    "terminated",
]
FINITE = {"complete", "errored", "terminated"}


async def in_status(emulator: Emulator, status: str) -> str:
    """An instance (its id is the status) brought to ``status``."""
    mode = {"waitingForPause": "running", "paused": "waiting", "terminated": "waiting"}
    instance = await emulator.env.FLOW.create(id=status, params=mode.get(status, status))
    if status == "queued":
        pass
    elif status in FINITE - {"terminated"}:
        await emulator.drain()
    else:
        await emulator.advance(1)
        if status in ("waitingForPause", "paused"):
            await instance.pause()
        elif status == "terminated":
            await instance.terminate()
    assert (await instance.status())["status"] == status
    return status


def natural_end(status: str) -> str:
    return "errored" if status == "errored" else "complete"


# (immediately after, after the emulator runs on) per status; None: unchanged
PAUSE = {
    "queued": ("paused", "paused"),
    "running": ("waitingForPause", "paused"),
    "waitingForPause": ("waitingForPause", "paused"),
    "waiting": ("paused", "paused"),
    "paused": ("paused", "paused"),
}
RESUME = {
    "queued": ("queued", "complete"),
    "running": ("running", "complete"),
    "waitingForPause": ("running", "complete"),
    "waiting": ("waiting", "complete"),
    "paused": ("running", "complete"),
}


async def run_on(emulator: Emulator, instance_id: str) -> str:
    emulator.worker.module.gate(instance_id).set()
    await emulator.drain()
    return str((await (await emulator.env.FLOW.get(instance_id)).status())["status"])


@pytest.mark.parametrize("status", STATUSES)
async def test_pause_in_each_status(tmp_path: Path, status: str) -> None:
    async with Emulator.from_config(project(tmp_path, SOURCE), clock=VirtualClock()) as emulator:
        instance = await emulator.env.FLOW.get(await in_status(emulator, status))
        await instance.pause()  # never an error, a finished instance included
        now, later = PAUSE.get(status, (status, status))
        assert (await instance.status())["status"] == now
        assert await run_on(emulator, status) == later
        if later == "paused":  # stopped at a step boundary: "second" never ran
            assert (status, "second") not in emulator.worker.module.LOG


@pytest.mark.parametrize("status", STATUSES)
async def test_resume_in_each_status(tmp_path: Path, status: str) -> None:
    async with Emulator.from_config(project(tmp_path, SOURCE), clock=VirtualClock()) as emulator:
        instance = await emulator.env.FLOW.get(await in_status(emulator, status))
        await instance.resume()
        now, later = RESUME.get(status, (status, status))
        assert (await instance.status())["status"] == now
        assert await run_on(emulator, status) == later
        log = emulator.worker.module.LOG
        if later == "complete":  # each step ran once: a resumed instance replays its record
            assert log.count((status, "first")) == 1 and log.count((status, "second")) == 1


@pytest.mark.parametrize("status", STATUSES)
async def test_terminate_in_each_status(tmp_path: Path, status: str) -> None:
    async with Emulator.from_config(project(tmp_path, SOURCE), clock=VirtualClock()) as emulator:
        instance = await emulator.env.FLOW.get(await in_status(emulator, status))
        if status in FINITE:
            with pytest.raises(
                WorkflowError,
                match=r"^\(instance\.cannot_terminate\) Cannot terminate instance since its "
                r"on a finite state$",
            ):
                await instance.terminate()
            assert await run_on(emulator, status) == status
            return
        await instance.terminate()
        assert await instance.status() == {"status": "terminated", "error": None, "output": None}
        assert await run_on(emulator, status) == "terminated"
        assert (status, "second") not in emulator.worker.module.LOG


@pytest.mark.parametrize("status", STATUSES)
async def test_restart_in_each_status(tmp_path: Path, status: str) -> None:
    async with Emulator.from_config(project(tmp_path, SOURCE), clock=VirtualClock()) as emulator:
        instance = await emulator.env.FLOW.get(await in_status(emulator, status))
        before = emulator.worker.module.LOG.count((status, "first"))
        await instance.restart()
        assert await instance.status() == {"status": "queued", "error": None, "output": None}
        assert await run_on(emulator, status) == natural_end(status)
        # from the start: "first" runs again even where it had been recorded
        assert emulator.worker.module.LOG.count((status, "first")) == before + 1


async def test_a_pause_during_a_retry_delay_waits_for_the_steps_last_attempt(
    tmp_path: Path,
) -> None:
    source = """
    from workers import WorkflowEntrypoint

    TRIES = []

    class Flow(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("flaky", config={"retries": {"limit": 2, "delay": "1 minute",
                                                   "backoff": "constant"}})
            async def flaky(ctx):
                TRIES.append(ctx["attempt"])
                if ctx["attempt"] < 3:
                    raise RuntimeError("not yet")
                return "ok"

            await flaky()

            @step.do("after")
            async def after():
                TRIES.append("after")

            await after()
    """
    async with Emulator.from_config(project(tmp_path, source), clock=VirtualClock()) as emulator:
        instance = await emulator.env.FLOW.create(id="r")
        await emulator.advance(1)  # attempt 1 failed; waiting a minute before attempt 2
        await instance.pause()
        assert (await instance.status())["status"] == "waitingForPause"
        await emulator.drain()
        assert emulator.worker.module.TRIES == [1, 2, 3]  # the step ran to its end, then paused
        assert (await instance.status())["status"] == "paused"
        await instance.resume()
        await emulator.drain()
        assert emulator.worker.module.TRIES == [1, 2, 3, "after"]
        assert (await instance.status())["status"] == "complete"


def test_the_statuses_cover_every_status_but_unknown() -> None:
    from cfemu.cli.workflows_render import STATUSES as WRANGLER

    assert set(STATUSES) == set(WRANGLER)
