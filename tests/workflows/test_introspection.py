"""cfemu.testing's Workflow introspection: mocks, forced timeouts, sleeps and retry delays
turned off, waits that drive the virtual clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.testing import introspect_workflow, introspect_workflow_instance
from cfemu.workflows import NonRetryableError
from tests.workflows.conftest import project

pytestmark = pytest.mark.anyio

FLOW = """
from workers import WorkflowEntrypoint

CALLS = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        out = []
        for n in range(3):
            @step.do("part", config={"retries": {"limit": 3, "delay": "1 minute"}})
            async def part(ctx):
                CALLS.append((ctx["step"]["count"], ctx["attempt"]))
                return ctx["step"]["count"] * 10
            out.append(await part())
            await step.sleep("nap", "1 day")
        try:
            got = await step.wait_for_event("go", "go", timeout="2 days")
            out.append(got["payload"])
        except Exception as exc:
            out.append(type(exc).__name__ + ": " + str(exc))
        return out
"""


async def started(tmp_path: Path) -> tuple[Emulator, VirtualClock]:
    clock = VirtualClock()
    emulator = Emulator.from_config(project(tmp_path, FLOW), clock=clock)
    await emulator.start()
    return emulator, clock


async def test_mocks_and_disabled_sleeps_before_the_instance_exists(tmp_path: Path) -> None:
    emulator, clock = await started(tmp_path)
    try:
        calls = emulator.worker.module.CALLS
        t0 = clock.now()
        with introspect_workflow_instance(emulator, emulator.env.FLOW, "i1") as instance:
            assert instance.status() == "unknown"
            instance.disable_sleeps()
            instance.mock_step_result(("part", 2), "mocked")
            instance.mock_event("go", {"ok": 1})
            with pytest.raises(ValueError, match="mocked result already"):
                instance.mock_step_result(("part", 2), "again")
            with pytest.raises(ValueError, match="has a mocked result"):
                instance.mock_step_error(("part", 2), RuntimeError("x"))

            await emulator.env.FLOW.create(id="i1")
            await instance.wait_for_status("complete")
            assert instance.get_output() == [10, "mocked", 30, {"ok": 1}]
            assert calls == [(1, 1), (3, 1)]  # the mocked step never ran
            assert clock.now() == t0  # three 1-day sleeps took no time
            with pytest.raises(ValueError, match="not 'errored'"):
                instance.get_error()
    finally:
        await emulator.aclose()


async def test_mocked_errors_retry_without_delays(tmp_path: Path) -> None:
    emulator, clock = await started(tmp_path)
    try:
        calls = emulator.worker.module.CALLS
        instance = introspect_workflow_instance(emulator, "flow", "i2")
        instance.disable_retry_delays()
        instance.mock_step_error("part", RuntimeError("flaky"), times=2)
        instance.force_step_timeout(("part", 2), times=1)
        await emulator.env.FLOW.create(id="i2")
        t0 = clock.now()
        assert await instance.wait_for_step_result("part") == 10
        assert calls == [(1, 3)]  # attempts 1 and 2 failed before the function ran
        assert clock.now() == t0  # and their retries did not wait
        assert await instance.wait_for_step_result(("part", 2)) == 20
        assert calls[1] == (2, 2)  # attempt 1 timed out
        assert clock.now() == t0 + 86400  # the first nap, by the virtual clock
        instance.dispose()
    finally:
        await emulator.aclose()


async def test_a_mocked_non_retryable_error_errors_the_instance(tmp_path: Path) -> None:
    emulator, _ = await started(tmp_path)
    try:
        instance = introspect_workflow_instance(emulator, "flow", "i3")
        instance.mock_step_error(("part", 3), NonRetryableError("card declined"))
        await emulator.env.FLOW.create(id="i3")
        with pytest.raises(ValueError, match="finished as 'errored', not 'complete'"):
            await instance.wait_for_status("complete")
        assert instance.get_error() == {"name": "NonRetryableError", "message": "card declined"}
        with pytest.raises(ValueError, match="not 'complete'"):
            instance.get_output()
        with pytest.raises(ValueError, match="without step"):
            await instance.wait_for_step_result(("part", 3))
    finally:
        await emulator.aclose()


async def test_forced_event_timeout_and_a_wait_that_cannot_end(tmp_path: Path) -> None:
    emulator, _ = await started(tmp_path)
    try:
        instance = introspect_workflow_instance(emulator, emulator.env.FLOW, "i4")
        instance.disable_sleeps("nap", ("nap", 2), ("nap", 3))
        instance.force_event_timeout("go")
        handle = await emulator.env.FLOW.create(id="i4")
        await instance.wait_for_status("complete")
        assert instance.get_output()[-1] == "WorkflowTimeoutError: Execution timed out after " + (
            f"{2 * 86400 * 1000}ms"
        )

        paused = introspect_workflow_instance(emulator, "flow", "i5")
        await emulator.env.FLOW.create(id="i5")
        await paused.wait_for_status("waiting")  # the first nap
        await (await emulator.env.FLOW.get("i5")).pause()
        with pytest.raises(TimeoutError, match="is 'paused' and nothing more can happen"):
            await paused.wait_for_status("complete")
        assert (await handle.status())["status"] == "complete"
        with pytest.raises(TypeError, match="a step is its name"):
            paused.mock_step_result(("part", 0), 1)
        with pytest.raises(ValueError, match="positive integer"):
            paused.mock_step_error("part", RuntimeError(), times=0)
    finally:
        await emulator.aclose()


async def test_introspect_workflow_changes_every_instance_created_while_open(
    tmp_path: Path,
) -> None:
    emulator, clock = await started(tmp_path)
    try:
        flow = emulator.env.FLOW
        with introspect_workflow(emulator, flow) as every:
            every.disable_sleeps()
            every.mock_step_result("part", -1)
            first = await flow.create(id="a")
            second = await flow.create(id="b")
            instances = every.get_instances()
            assert [i.id for i in instances] == ["a", "b"]
            for i in instances:
                i.mock_event("go", i.id)
            t0 = clock.now()
            for i in instances:
                await i.wait_for_status("complete")
            assert clock.now() == t0
            assert [i.get_output() for i in instances] == [[-1, 20, 30, "a"], [-1, 20, 30, "b"]]
        late = await flow.create(id="c")  # after dispose: nothing mocked
        await late.sendEvent(type="go", payload="c")
        await emulator.drain()
        assert (await late.status())["output"] == [10, 20, 30, "c"]
        assert (await first.status())["status"] == (await second.status())["status"]
    finally:
        await emulator.aclose()


async def test_waits_on_the_real_clock(tmp_path: Path) -> None:
    from cfemu import RealClock

    emulator = Emulator.from_config(project(tmp_path, FLOW), clock=RealClock())
    async with emulator:
        instance = introspect_workflow_instance(emulator, "flow", "r1")
        instance.disable_sleeps()
        await emulator.env.FLOW.create(id="r1")
        assert await instance.wait_for_step_result(("part", 3)) == 30
        with pytest.raises(TimeoutError, match=r"'waiting' and 0\.05 s passed"):
            await instance.wait_for_status("complete", max_seconds=0.05)  # no event yet
        instance.mock_event("go", "late")
        await instance.wait_for_status("complete", max_seconds=10)
        assert instance.get_output() == [10, 20, 30, "late"]
