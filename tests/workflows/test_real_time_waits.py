"""Workflow steps that wait with ``asyncio.sleep`` (as Cloudflare's Python Workflows example
does) on a VirtualClock: the sleep runs on the emulator's clock, so the instance completes at
once in real time, its step timeouts still apply, and concurrent dependencies overlap."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from tests.workflows.conftest import project

pytestmark = pytest.mark.anyio

DAG = """
import asyncio

from workers import WorkflowEntrypoint

LOG = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        first, second = event["payload"]["sleeps"]

        @step.do("dependency 1")
        async def short_wait():
            await asyncio.sleep(first)
            LOG.append(("dependency 1", first))

        @step.do("dependency 2")
        async def long_wait():
            await asyncio.sleep(second)
            LOG.append(("dependency 2", second))

        @step.do("final step", depends=[short_wait, long_wait], concurrent=True)
        async def summarize(res1=None, res2=None):
            LOG.append(("final step", None))
            return "done"

        return await summarize()
"""

TIMEOUT = """
import asyncio

from workers import WorkflowEntrypoint

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("slow", config={"timeout": "1 minute", "retries": {"limit": 1, "delay": 1}})
        async def slow():
            await asyncio.sleep(event["payload"])
            return "finished"

        return await slow()
"""


async def test_steps_sleeping_in_asyncio_complete_on_the_virtual_clock(tmp_path: Path) -> None:
    config = project(tmp_path, DAG, date="2025-11-02")
    async with Emulator.from_config(config, clock=VirtualClock()) as emulator:
        start = emulator.clock.now()
        instance = await emulator.env.FLOW.create(params={"sleeps": [10, 15]})
        await emulator.drain(max_seconds=10)  # 15 s of sleeps in real time would not fit
        status = await instance.status()
        assert (status["status"], status["output"]) == ("complete", "done")
        log = emulator.worker.module.LOG
        assert log == [("dependency 1", 10), ("dependency 2", 15), ("final step", None)]
        # The two dependencies ran concurrently: 15 s passed, not 25.
        assert emulator.clock.now() - start == pytest.approx(15, abs=1)


@pytest.mark.parametrize(("sleep", "status"), [(30, "complete"), (90, "errored")])
async def test_a_step_timeout_applies_to_its_asyncio_sleep(
    tmp_path: Path, sleep: int, status: str
) -> None:
    config = project(tmp_path, TIMEOUT)
    async with Emulator.from_config(config, clock=VirtualClock()) as emulator:
        instance = await emulator.env.FLOW.create(params=sleep)
        await emulator.drain(max_seconds=10)
        result = await instance.status()
        assert result["status"] == status
        if status == "complete":
            assert result["output"] == "finished"
        else:
            assert "timed out" in result["error"]["message"].lower()
