"""The Workflows semantics of issue 19 not covered elsewhere, each on a virtual clock: a
step's timeout, concurrent dependencies, the event's fields, sleeps' bounds, and the
limits with Cloudflare's wording."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.workflows import WorkflowError
from tests.workflows.conftest import CONFIG, project

pytestmark = pytest.mark.anyio

TIMEOUT = """
import asyncio
from workers import WorkflowEntrypoint

NEVER = asyncio.Event()
TRIES = []
NOW = [None]

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("stuck", config={"timeout": "30 seconds",
                                  "retries": {"limit": 1, "delay": "5 seconds",
                                              "backoff": "constant"}})
        async def stuck(ctx):
            TRIES.append((ctx.attempt, NOW[0]()))
            await NEVER.wait()

        await stuck()
"""


async def test_an_attempt_past_its_timeout_fails_and_is_retried(tmp_path: Path) -> None:
    clock = VirtualClock()
    async with Emulator.from_config(project(tmp_path, TIMEOUT), clock=clock) as emulator:
        emulator.worker.module.NOW[0] = clock.now
        t0 = clock.now()
        instance = await emulator.env.FLOW.create(id="t")
        await emulator.drain()
        # attempt 1 at 0 s, times out at 30 s; 5 s delay; attempt 2 at 35 s, out at 65 s
        assert [(n, at - t0) for n, at in emulator.worker.module.TRIES] == [(1, 0), (2, 35)]
        assert clock.now() - t0 == pytest.approx(65)
        assert await instance.status() == {
            "status": "errored",
            "error": {
                "name": "WorkflowTimeoutError",
                "message": "Execution timed out after 30000ms",
            },
            "output": None,
        }


CONCURRENT = """
import asyncio
from workers import WorkflowEntrypoint

LEFT, RIGHT = asyncio.Event(), asyncio.Event()

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        cfg = {"timeout": "1 minute", "retries": {"limit": 0, "delay": 0}}

        @step.do(config=cfg)
        async def left():  # each side waits for the other: only concurrent steps meet
            LEFT.set()
            await RIGHT.wait()
            return 2

        @step.do(config=cfg)
        async def right():
            RIGHT.set()
            await LEFT.wait()
            return 3

        if event.payload == "together":
            @step.do(concurrent=True)
            async def combined(left, right):
                return left * right
        else:
            @step.do()
            async def combined(left, right):
                return left * right

        return await combined()
"""


@pytest.mark.parametrize("mode", ["together", "one after the other"])
async def test_concurrent_dependencies_run_at_the_same_time(tmp_path: Path, mode: str) -> None:
    clock = VirtualClock()
    async with Emulator.from_config(project(tmp_path, CONCURRENT), clock=clock) as emulator:
        t0 = clock.now()
        instance = await emulator.env.FLOW.create(params=mode)
        await emulator.drain()
        status = await instance.status()
        if mode == "together":
            assert status == {"status": "complete", "error": None, "output": 6}
            assert clock.now() == t0  # they met at once
        else:  # "left" waits alone for "right", which has not started: its minute runs out
            assert status.error == {
                "name": "WorkflowTimeoutError",
                "message": "Execution timed out after 60000ms",
            }
            assert clock.now() - t0 == pytest.approx(60)


EVENT = """
from workers import WorkflowEntrypoint

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("read")
        async def read(ctx):
            return {"attempt": ctx.attempt, "name": ctx.step.name}

        got = await read()
        sent = await step.wait_for_event("wait", "go", timeout="1 minute")
        return {
            "payload": event.payload,
            "nested": event.payload.order.id,
            "instanceId": event.instanceId,
            "workflowName": event.workflowName,
            "timestamp": event.timestamp.isoformat(),
            "step": got.name,  # a step's dict result allows attribute access too
            "sent": [sent.type, sent.payload.ok, sent.timestamp.isoformat()],
        }
"""


async def test_the_event_has_payload_timestamp_and_instance_id(tmp_path: Path) -> None:
    clock = VirtualClock(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))
    async with Emulator.from_config(project(tmp_path, EVENT), clock=clock) as emulator:
        instance = await emulator.env.FLOW.create(id="e-1", params={"order": {"id": 7}})
        await emulator.advance(10)
        await instance.sendEvent(type="go", payload={"ok": True})
        await emulator.drain()
        assert (await instance.status()).output == {
            "payload": {"order": {"id": 7}},
            "nested": 7,
            "instanceId": "e-1",
            "workflowName": "flow",
            "timestamp": "2026-05-01T12:00:00",  # when the instance was created (naive UTC)
            "step": "read",
            "sent": ["go", True, "2026-05-01T12:00:10"],
        }


SLEEPS = """
from datetime import datetime, timedelta, timezone
from workers import WorkflowEntrypoint

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        try:
            if event["payload"] == "past":
                past = datetime.now(timezone.utc) - timedelta(days=400)
                await step.sleep_until("back", past)
            elif event["payload"] == "name":
                await step.sleep("n" * 257, 1)
            else:
                await step.sleep("long", "366 days")
        except ValueError as exc:
            return str(exc)
"""


async def test_sleeps_refuse_the_past_more_than_365_days_and_long_names(tmp_path: Path) -> None:
    async with Emulator.from_config(project(tmp_path, SLEEPS), clock=VirtualClock()) as emulator:
        past = await emulator.env.FLOW.create(params="past")
        long = await emulator.env.FLOW.create(params="long")
        name = await emulator.env.FLOW.create(params="name")
        await emulator.drain()
        assert (await name.status()).output == (
            f'Step name "{"n" * 257}" exceeds max length (256 chars) or invalid characters found'
        )
        assert (await past.status()).output == (
            "You can't sleep until a time in the past, time-traveler"
        )
        assert (await long.status()).output == (
            "step.sleep duration '366 days' is over the maximum of 365 days"
        )


STEPS = """
from workers import WorkflowEntrypoint

RAN = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        for i in range(3):
            await step.sleep("breathe", 1000)  # sleeps do not count towards the limit

            @step.do("part")
            async def part():
                RAN.append(i)
                return i

            await part()
"""


async def test_the_step_limit_and_its_wording(tmp_path: Path) -> None:
    config = project(tmp_path, STEPS)
    config.write_text(CONFIG.format(date="2026-03-01") + "limits = { steps = 2 }\n")
    async with Emulator.from_config(config, clock=VirtualClock()) as emulator:
        instance = await emulator.env.FLOW.create()
        await emulator.drain()
        assert emulator.worker.module.RAN == [0, 1]
        assert (await instance.status()).error == {
            "name": "WorkflowError",
            "message": "The limit of 2 steps has been reached. This limit can be changed in "
            "your worker configuration.",
        }


async def test_binding_limits_and_their_wording(tmp_path: Path) -> None:
    async with Emulator.from_config(project(tmp_path, STEPS), clock=VirtualClock()) as emulator:
        flow = emulator.env.FLOW
        over = "x" * (1024 * 1024)
        with pytest.raises(WorkflowError, match="params are over the 1 MiB limit"):
            await flow.create(params=over)
        instance = await flow.create(id="ok")
        with pytest.raises(WorkflowError, match="event payload is over the 1 MiB limit"):
            await instance.sendEvent(type="t", payload=over)
        with pytest.raises(WorkflowError, match=r"^Workflow instance has invalid id$"):
            await flow.create(id="x" * 101)
        await flow.create(id="y" * 100)
        with pytest.raises(WorkflowError, match="batchCreate accepts at most 100 instances"):
            await flow.create_batch([{} for _ in range(101)])
        made = await flow.create_batch([{"params": n} for n in range(100)])
        assert len({m.id for m in made}) == 100
