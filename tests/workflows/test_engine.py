"""Workflow instances through the Emulator on a virtual clock: steps, retries, sleeps,
events, statuses."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.workflows import WorkflowError
from tests.workflows.conftest import project

pytestmark = pytest.mark.anyio

RETRYING = """
from workers import WorkflowEntrypoint
from workers.workflows import NonRetryableError

CALLS = []
FAIL_TIMES = {"n": 3}
NOW = [None]

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("flaky", config={"retries": {"limit": 3, "delay": "2 seconds",
                                               "backoff": "%s"}})
        async def flaky(ctx):
            CALLS.append((ctx["attempt"], NOW[0]()))
            if len(CALLS) <= FAIL_TIMES["n"]:
                raise RuntimeError("boom %%d" %% len(CALLS))
            return len(CALLS)

        return await flaky()
"""


def retrying(backoff: str) -> str:
    return RETRYING % backoff


async def started(tmp_path: Path, source: str, **kwargs: Any) -> tuple[Emulator, VirtualClock]:
    clock = VirtualClock()
    emulator = Emulator.from_config(project(tmp_path, source), clock=clock, **kwargs)
    await emulator.start()
    return emulator, clock


@pytest.mark.parametrize(
    ("backoff", "gaps"),
    [("constant", [2.0, 2.0, 2.0]), ("linear", [2.0, 4.0, 6.0]), ("exponential", [2.0, 4.0, 8.0])],
)
async def test_a_failing_step_is_retried_with_its_backoff(
    tmp_path: Path, backoff: str, gaps: list[float]
) -> None:
    emulator, clock = await started(tmp_path, retrying(backoff))
    try:
        emulator.worker.module.NOW[0] = clock.now
        instance = await emulator.env.FLOW.create(id="r1")
        await emulator.drain()
        calls = emulator.worker.module.CALLS
        assert [attempt for attempt, _ in calls] == [1, 2, 3, 4]
        times = [at for _, at in calls]
        assert [b - a for a, b in itertools.pairwise(times)] == gaps
        assert await instance.status() == {"status": "complete", "output": 4, "error": None}
    finally:
        await emulator.aclose()


async def test_a_step_failing_past_its_limit_errors_the_instance(tmp_path: Path) -> None:
    emulator, clock = await started(tmp_path, retrying("exponential"))
    try:
        emulator.worker.module.NOW[0] = clock.now
        emulator.worker.module.FAIL_TIMES["n"] = 100
        instance = await emulator.env.FLOW.create(id="r2")
        await emulator.drain()
        # limit 3: the first attempt and 3 retries (delays 2 + 4 + 8 s)
        assert len(emulator.worker.module.CALLS) == 4
        assert emulator.worker.module.CALLS[-1][1] - emulator.worker.module.CALLS[0][1] == 14
        assert await instance.status() == {
            "status": "errored",
            "error": {"name": "RuntimeError", "message": "boom 4"},
            "output": None,
        }
    finally:
        await emulator.aclose()


NON_RETRYABLE = """
from workers import WorkflowEntrypoint
from workers.workflows import NonRetryableError

CALLS = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("refuse")
        async def refuse():
            CALLS.append(1)
            raise NonRetryableError("bad input")

        try:
            await refuse()
        except NonRetryableError as exc:
            if event["payload"] == "catch":
                return "caught: " + str(exc)
            raise
"""


async def test_non_retryable_error_is_not_retried(tmp_path: Path) -> None:
    emulator, _ = await started(tmp_path, NON_RETRYABLE)
    try:
        failing = await emulator.env.FLOW.create(id="n1", params="raise")
        caught = await emulator.env.FLOW.create(id="n2", params="catch")
        await emulator.drain()
        assert emulator.worker.module.CALLS == [1, 1]
        assert await failing.status() == {
            "status": "errored",
            "error": {"name": "NonRetryableError", "message": "bad input"},
            "output": None,
        }
        assert await caught.status() == {
            "status": "complete",
            "output": "caught: bad input",
            "error": None,
        }
    finally:
        await emulator.aclose()


SLEEPER = """
from datetime import datetime, timedelta, timezone
from workers import WorkflowEntrypoint

LOG = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("first")
        async def first():
            LOG.append("first")
            return event["timestamp"].replace(tzinfo=timezone.utc).timestamp()

        started = await first()
        await step.sleep("nap", event["payload"]["sleep"])
        LOG.append("woke")
        await step.sleep_until("alarm", datetime.fromtimestamp(started + 7 * 86400, timezone.utc))
        LOG.append("done")
        return started
"""


async def test_sleep_and_sleep_until_run_on_the_emulators_clock(tmp_path: Path) -> None:
    emulator, clock = await started(tmp_path, SLEEPER)
    try:
        t0 = clock.now()
        instance = await emulator.env.FLOW.create(id="s1", params={"sleep": "2 days"})
        await emulator.advance(1)
        assert await instance.status() == {"status": "waiting", "error": None, "output": None}
        assert emulator.worker.module.LOG == ["first"]
        await emulator.advance(2 * 86400)
        assert emulator.worker.module.LOG == ["first", "woke"]
        assert (await instance.status())["status"] == "waiting"
        await emulator.drain()
        assert emulator.worker.module.LOG == ["first", "woke", "done"]
        assert clock.now() == pytest.approx(t0 + 7 * 86400)
        assert await instance.status() == {"status": "complete", "output": t0, "error": None}
    finally:
        await emulator.aclose()


async def test_sleep_takes_milliseconds(tmp_path: Path) -> None:
    emulator, clock = await started(tmp_path, SLEEPER)
    try:
        t0 = clock.now()
        instance = await emulator.env.FLOW.create(params={"sleep": 1500})
        await emulator.advance(1.4)
        assert emulator.worker.module.LOG == ["first"]
        await emulator.advance(0.2)
        assert emulator.worker.module.LOG == ["first", "woke"]
        assert clock.now() - t0 == pytest.approx(1.6)
        assert len(instance.id) == 36  # a random UUID
    finally:
        await emulator.aclose()


WAITER = """
from datetime import timezone

from workers import WorkflowEntrypoint

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        try:
            got = await step.wait_for_event("approval", "approved", timeout="1 hour")
        except Exception as exc:
            return {"timeout": type(exc).__name__ + ": " + str(exc)}
        return {"payload": got["payload"], "type": got["type"],
                "at": got["timestamp"].replace(tzinfo=timezone.utc).timestamp()}
"""


async def test_wait_for_event_gets_the_sent_event(tmp_path: Path) -> None:
    emulator, clock = await started(tmp_path, WAITER)
    try:
        instance = await emulator.env.FLOW.create(id="w1")
        await emulator.advance(600)
        assert await instance.status() == {"status": "waiting", "error": None, "output": None}
        handle = await emulator.env.FLOW.get("w1")
        await handle.sendEvent(type="other", payload=1)
        await emulator.advance(1)
        assert await instance.status() == {"status": "waiting", "error": None, "output": None}
        sent_at = clock.now()
        await handle.send_event({"type": "approved", "payload": {"ok": True}})
        await emulator.drain()
        assert await instance.status() == {
            "status": "complete",
            "output": {"payload": {"ok": True}, "type": "approved", "at": sent_at},
            "error": None,
        }
    finally:
        await emulator.aclose()


async def test_an_event_sent_before_the_wait_is_delivered(tmp_path: Path) -> None:
    emulator, _ = await started(tmp_path, WAITER)
    try:
        instance = await emulator.env.FLOW.create(id="w2")
        await instance.sendEvent(type="approved", payload="early")
        await emulator.drain()
        assert (await instance.status())["output"]["payload"] == "early"
    finally:
        await emulator.aclose()


async def test_wait_for_event_times_out(tmp_path: Path) -> None:
    emulator, clock = await started(tmp_path, WAITER)
    try:
        t0 = clock.now()
        instance = await emulator.env.FLOW.create(id="w3")
        await emulator.drain()
        assert clock.now() - t0 == pytest.approx(3600)
        assert await instance.status() == {
            "status": "complete",
            "output": {"timeout": "WorkflowTimeoutError: Execution timed out after 3600000ms"},
            "error": None,
        }
        with pytest.raises(WorkflowError, match="finite state"):
            await instance.sendEvent(type="approved", payload=None)
    finally:
        await emulator.aclose()


STEPS = """
from workers import WorkflowEntrypoint

LOG = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        for i in range(3):
            @step.do("part")
            async def part(ctx):
                LOG.append(("part", ctx["step"]["count"]))
                return ctx["step"]["count"]
            await part()
            await step.sleep("between", "1 hour")
        return "done"
"""


async def test_pause_resume_and_terminate(tmp_path: Path) -> None:
    emulator, _ = await started(tmp_path, STEPS)
    try:
        flow = emulator.env.FLOW
        instance = await flow.create(id="p1")
        await emulator.advance(1)
        assert await instance.status() == {"status": "waiting", "error": None, "output": None}
        await instance.pause()
        assert await instance.status() == {"status": "paused", "error": None, "output": None}
        await emulator.advance(7200)
        assert emulator.worker.module.LOG == [("part", 1)]
        assert await instance.status() == {"status": "paused", "error": None, "output": None}
        await instance.resume()  # the hour's sleep had 3599 s to go: it ends 3599 s later
        await emulator.advance(3598)
        assert emulator.worker.module.LOG == [("part", 1)]
        await emulator.advance(2)
        assert emulator.worker.module.LOG == [("part", 1), ("part", 2)]
        assert await instance.status() == {"status": "waiting", "error": None, "output": None}
        await instance.terminate()
        assert await instance.status() == {"status": "terminated", "error": None, "output": None}
        await emulator.drain()
        assert len(emulator.worker.module.LOG) == 2
        with pytest.raises(WorkflowError, match=r"^\(instance.cannot_terminate\) Cannot"):
            await instance.terminate()
    finally:
        await emulator.aclose()


async def test_restart_runs_every_step_again(tmp_path: Path) -> None:
    emulator, _ = await started(tmp_path, STEPS)
    try:
        instance = await emulator.env.FLOW.create(id="x1")
        await emulator.drain()
        assert await instance.status() == {"status": "complete", "output": "done", "error": None}
        await instance.restart()
        assert await instance.status() == {"status": "queued", "error": None, "output": None}
        await emulator.drain()
        assert [count for _, count in emulator.worker.module.LOG] == [1, 2, 3, 1, 2, 3]
    finally:
        await emulator.aclose()


async def test_binding_errors_use_cloudflares_wording(tmp_path: Path) -> None:
    emulator, _ = await started(tmp_path, STEPS)
    try:
        flow = emulator.env.FLOW
        with pytest.raises(WorkflowError, match=r"^instance\.not_found$"):
            await flow.get("nope")
        with pytest.raises(WorkflowError, match=r"^Workflow instance has invalid id$"):
            await flow.create(id="-bad id")
        with pytest.raises(WorkflowError, match="at least 1 instance"):
            await flow.create_batch([])
        made = await flow.create_batch([{"id": "b1"}, {"id": "b2", "params": [1]}])
        assert [m.id for m in made] == ["b1", "b2"]
        with pytest.raises(WorkflowError, match="already exists"):
            await flow.create(id="b1")
    finally:
        await emulator.aclose()


ONCE = """
from workers import WorkflowEntrypoint

RUNS = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("load", config={"retries": {"limit": 2, "delay": 1000, "backoff": "constant"}})
        async def load(ctx):
            RUNS.append(ctx["attempt"])
            return "loaded"

        first = await load()
        again = await load()  # the same step awaited twice runs once
        return [first, again]
"""


async def test_a_step_awaited_twice_runs_once_and_faults_fail_attempts(tmp_path: Path) -> None:
    emulator, clock = await started(tmp_path, ONCE)
    try:
        emulator.faults.arm(
            "workflows.step", "flow:load", error=lambda: RuntimeError("injected"), times=2
        )
        t0 = clock.now()
        instance = await emulator.env.FLOW.create(id="f1")
        await emulator.drain()
        assert emulator.worker.module.RUNS == [3]  # attempts 1 and 2 failed before running
        assert clock.now() - t0 == pytest.approx(2.0)
        assert await instance.status() == {
            "status": "complete",
            "output": ["loaded", "loaded"],
            "error": None,
        }
    finally:
        await emulator.aclose()


async def test_status_has_cloudflares_three_keys_with_attribute_access(tmp_path: Path) -> None:
    emulator, _ = await started(tmp_path, NON_RETRYABLE)
    try:
        failing = await emulator.env.FLOW.create(id="k1", params="raise")
        caught = await emulator.env.FLOW.create(id="k2", params="catch")
        queued = await failing.status()
        assert queued == {"status": "queued", "error": None, "output": None}
        assert (queued.status, queued.error, queued.output) == ("queued", None, None)
        await emulator.drain()
        errored = await failing.status()
        assert errored.status == "errored" and errored.output is None
        assert (errored.error.name, errored.error.message) == ("NonRetryableError", "bad input")
        complete = await caught.status()
        assert (complete.status, complete.error, complete.output) == (
            "complete",
            None,
            "caught: bad input",
        )
        with pytest.raises(AttributeError):
            _ = complete.missing
    finally:
        await emulator.aclose()
