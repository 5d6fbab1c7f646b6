"""The instance API beyond the basics: restart from a step, delete and deleteBatch,
terminate's options, fatal step results and the instance's storage limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.workflows import WorkflowError
from cfemu.workflows.engine import WorkflowRuntime
from cfemu.workflows.service import WorkflowsService
from tests.workflows.conftest import project

pytestmark = pytest.mark.anyio

CHAIN = """
from workers import WorkflowEntrypoint

RUNS = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        out = []
        for name in ("a", "b", "a"):
            @step.do(name)
            async def work(ctx):
                RUNS.append((ctx["step"]["name"], ctx["step"]["count"]))
                return len(RUNS)
            out.append(await work())
            await step.sleep("rest", "1 hour")
        got = await step.wait_for_event("ok", "ok", timeout="1 day")
        out.append(got["payload"])
        return out
"""


async def started(tmp_path: Path, source: str) -> Emulator:
    emulator = Emulator.from_config(project(tmp_path, source), clock=VirtualClock())
    await emulator.start()
    return emulator


async def finish(emulator: Emulator, instance: Any, payload: object = "go") -> dict[str, Any]:
    await emulator.advance(4 * 3600)
    await instance.sendEvent(type="ok", payload=payload)
    await emulator.drain()
    status: dict[str, Any] = await instance.status()
    return status


async def test_restart_from_a_step_keeps_the_results_before_it(tmp_path: Path) -> None:
    emulator = await started(tmp_path, CHAIN)
    try:
        runs = emulator.worker.module.RUNS
        instance = await emulator.env.FLOW.create(id="r")
        assert await finish(emulator, instance) == {
            "status": "complete",
            "output": [1, 2, 3, "go"],
            "error": None,
        }
        assert runs == [("a", 1), ("b", 1), ("a", 2)]

        # the second "a" (count 2): "a"-1 and "b" keep their results, the rest runs again
        await instance.restart({"from": {"name": "a", "count": 2}})
        assert await instance.status() == {"status": "queued", "error": None, "output": None}
        assert await finish(emulator, instance, "again") == {
            "status": "complete",
            "output": [1, 2, 4, "again"],
            "error": None,
        }
        assert runs[3:] == [("a", 2)]

        # from a sleep, by type: the step after it runs again; the event is waited for anew
        await instance.restart(**{"from": {"name": "rest", "count": 2, "type": "sleep"}})
        await emulator.advance(60)
        assert await instance.status() == {"status": "waiting", "error": None, "output": None}
        assert await finish(emulator, instance, "third") == {
            "status": "complete",
            "output": [1, 2, 5, "third"],
            "error": None,
        }

        # from the event wait: only the wait runs again
        await instance.restart({"from": {"name": "ok", "type": "waitForEvent"}})
        assert (await finish(emulator, instance, "fourth"))["output"] == [1, 2, 5, "fourth"]
        assert len(runs) == 5

        # no such step in the history: Cloudflare's error, nothing restarted
        for missing in ({"name": "c"}, {"name": "a", "count": 3}, {"name": "a", "type": "sleep"}):
            with pytest.raises(
                WorkflowError,
                match=rf'^\(instance\.cannot_restart\) Step "{missing["name"]}" not found in '
                "execution history$",
            ):
                await instance.restart({"from": missing})
        assert (await instance.status())["status"] == "complete"
        for bad in ({"from": {"count": 1}}, {"from": {"name": "a", "count": 0}}, {"to": 1}):
            with pytest.raises(TypeError):
                await instance.restart(bad)
    finally:
        await emulator.aclose()


async def test_delete_forgets_an_instance_and_frees_its_id(tmp_path: Path) -> None:
    emulator = await started(tmp_path, CHAIN)
    try:
        flow = emulator.env.FLOW
        instance = await flow.create(id="d1", params={"n": 1})
        await emulator.advance(60)
        assert (await instance.status())["status"] == "waiting"
        await instance.delete()
        with pytest.raises(WorkflowError, match=r"^instance\.not_found$"):
            await flow.get("d1")
        with pytest.raises(WorkflowError, match=r"^\(instance\.not_found\) Instance does not"):
            await instance.delete()
        await emulator.drain()  # its task is gone: nothing runs for it any more
        assert len(emulator.worker.module.RUNS) == 1

        again = await flow.create(id="d1")  # the id is free again, with no history
        assert await finish(emulator, again) == {
            "status": "complete",
            "output": [2, 3, 4, "go"],
            "error": None,
        }
    finally:
        await emulator.aclose()


async def test_delete_batch_reports_each_id(tmp_path: Path) -> None:
    emulator = await started(tmp_path, CHAIN)
    try:
        flow = emulator.env.FLOW
        await flow.create_batch([{"id": "x"}, {"id": "y"}])
        result = await flow.deleteBatch(["x", "nope", "x", "y"])
        assert result == {
            "deleted": [{"id": "x"}, {"id": "x"}, {"id": "y"}],
            "errors": [
                {"id": "nope", "code": 10400, "message": "workflows.api.error.instance.not_found"}
            ],
        }
        with pytest.raises(WorkflowError, match="should have at least 1 instance"):
            await flow.deleteBatch([])
        with pytest.raises(WorkflowError, match="only supports 100 instances at a time"):
            await flow.deleteBatch([f"i{n}" for n in range(101)])
        with pytest.raises(WorkflowError, match=r"^\(instance\.invalid_id\) Instance ID is"):
            await flow.deleteBatch(["ok", "no\nway"])
        with pytest.raises(WorkflowError, match=r"^\(body\) Provided argument is invalid$"):
            await flow.deleteBatch("x")
    finally:
        await emulator.aclose()


async def test_terminate_takes_cloudflares_options(tmp_path: Path) -> None:
    emulator = await started(tmp_path, CHAIN)
    try:
        flow = emulator.env.FLOW
        first = await flow.create(id="t1")
        await first.terminate({"rollback": True})
        assert await first.status() == {"status": "terminated", "error": None, "output": None}
        second = await flow.create(id="t2")
        with pytest.raises(TypeError, match="rollback"):
            await second.terminate({"rollback": "yes"})
        with pytest.raises(TypeError, match="rollback"):
            await second.terminate(force=True)
        await second.terminate(rollback=False)
        assert await second.status() == {"status": "terminated", "error": None, "output": None}
    finally:
        await emulator.aclose()


RESULTS = """
from workers import WorkflowEntrypoint

ATTEMPTS = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        kind = event["payload"]

        @step.do("make", config={"retries": {"limit": 2, "delay": 10}})
        async def make(ctx):
            ATTEMPTS.append(ctx["attempt"])
            if kind == "object":
                return object()
            if kind == "huge":
                return "x" * (1024 * 1024)
            return "y" * 300

        try:
            return await make()
        except BaseException as exc:
            return "caught " + type(exc).__name__ + ": " + str(exc)
"""


async def test_a_result_that_is_not_json_ends_the_instance(tmp_path: Path) -> None:
    emulator = await started(tmp_path, RESULTS)
    try:
        attempts = emulator.worker.module.ATTEMPTS
        bad = await emulator.env.FLOW.create(params="object")
        await emulator.drain()
        assert attempts == [1]  # not retried, and not catchable in run()
        assert await bad.status() == {
            "status": "errored",
            "error": {
                "name": "WorkflowFatalError",
                "message": "The execution of the Workflow instance was terminated, as the step "
                '"make" returned a value which is not serialisable',
            },
            "output": None,
        }
    finally:
        await emulator.aclose()


async def test_a_result_over_one_mib_fails_the_attempt(tmp_path: Path) -> None:
    emulator = await started(tmp_path, RESULTS)
    try:
        attempts = emulator.worker.module.ATTEMPTS
        big = await emulator.env.FLOW.create(params="huge")  # 1 MiB of text + JSON quotes
        await emulator.drain()
        assert attempts == [1, 2, 3]  # retried per its config, then caught in run()
        assert await big.status() == {
            "status": "complete",
            "output": "caught ValueError: Step make-1 output is too large. Maximum allowed "
            "size is 1MiB.",
            "error": None,
        }
    finally:
        await emulator.aclose()


async def test_the_instance_storage_limit_errors_the_instance(tmp_path: Path) -> None:
    emulator = await started(tmp_path, RESULTS)
    try:
        runtime: WorkflowRuntime = emulator.service(WorkflowsService).runtimes["flow"]
        runtime.state_limit = 200  # the 300-character result does not fit
        small = await emulator.env.FLOW.create(params="fits?")
        await emulator.drain()
        assert await small.status() == {
            "status": "errored",
            "error": {
                "name": "WorkflowFatalError",
                "message": "The instance has exceeded the 1GiB storage limit",
            },
            "output": None,
        }
        runtime.state_limit = 400
        await small.restart()
        await emulator.drain()
        assert await small.status() == {"status": "complete", "output": "y" * 300, "error": None}
    finally:
        await emulator.aclose()


CONCURRENT = """
from workers import WorkflowEntrypoint

RUNS = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("slow")
        async def slow():
            RUNS.append("slow")
            await self.env.WAIT(60)
            return "s"

        @step.do("fast")
        async def fast():
            RUNS.append("fast")
            return "f"

        @step.do("both", concurrent=True)
        async def both(slow, fast):
            RUNS.append("both")
            return slow + fast

        return await both()
"""


async def test_restart_from_a_step_forgets_the_steps_started_after_it(tmp_path: Path) -> None:
    clock = VirtualClock()
    emulator = Emulator.from_config(
        project(tmp_path, CONCURRENT), clock=clock, extra_vars={"WAIT": clock.sleep}
    )
    async with emulator:
        runs = emulator.worker.module.RUNS
        instance = await emulator.env.FLOW.create(id="c")
        await emulator.drain()
        assert runs == ["slow", "fast", "both"]  # "fast" is recorded before "slow"
        # "fast" started after "slow": restarting from "slow" runs it again (Cloudflare
        # orders a restart by when steps started, not when they finished)
        await instance.restart({"from": {"name": "slow"}})
        await emulator.drain()
        assert runs[3:] == ["slow", "fast", "both"]
        # from "fast": "slow" started before it and keeps its result
        await instance.restart({"from": {"name": "fast"}})
        await emulator.drain()
        assert runs[6:] == ["fast", "both"]
        assert await instance.status() == {"status": "complete", "output": "sf", "error": None}
