"""A property: pause(), resume(), terminate(), restart(), sendEvent() and the passing of
time, in any order on a virtual clock, keep an instance's statuses to Cloudflare's rules
(docs/workflows.md, "Instance lifecycle"), run nothing while it is paused, and run each
step once per run of the instance (a resume replays recorded steps, never re-runs them)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfemu import Emulator, VirtualClock
from cfemu.workflows import WorkflowError
from tests.workflows.conftest import project

SOURCE = """
from workers import WorkflowEntrypoint

RUNS = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("a")
        async def a():
            RUNS.append("a")
            return 1

        await a()
        await step.sleep("nap", "1 hour")

        @step.do("b", config={"retries": {"limit": 2, "delay": "1 minute",
                                           "backoff": "constant"}})
        async def b(ctx):
            RUNS.append("b")
            if ctx.attempt < 2:
                raise RuntimeError("flaky")
            return 2

        await b()
        try:
            got = await step.wait_for_event("ok", "ok", timeout="2 hours")
        except Exception:
            return "timeout"
        return got.payload
"""

FINITE = {"complete", "errored", "terminated"}
ops = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.sampled_from([0, 30, 60, 600, 3600, 7200])),
        st.tuples(st.sampled_from(["pause", "resume", "terminate", "restart"]), st.none()),
        st.tuples(st.just("event"), st.integers(0, 9)),
    ),
    max_size=14,
)


async def scenario(folder: Path, steps: list[tuple[str, Any]]) -> None:
    async with Emulator.from_config(project(folder, SOURCE), clock=VirtualClock()) as emulator:
        runs: list[str] = emulator.worker.module.RUNS
        instance = await emulator.env.FLOW.create(id="i")
        since_restart = 0

        async def status() -> str:
            return str((await instance.status())["status"])

        for op, arg in steps:
            before, ran = await status(), len(runs)
            if op == "advance":
                await emulator.advance(arg)
                after = await status()
                if before in FINITE:
                    assert after == before
                if before == "paused" == after:
                    assert len(runs) == ran  # nothing runs while paused
            elif op == "event":
                if before in FINITE:
                    with pytest.raises(WorkflowError, match="cannot_send_event"):
                        await instance.sendEvent(type="ok", payload=arg)
                else:
                    await instance.sendEvent(type="ok", payload=arg)
                assert await status() == before
            elif op == "terminate":
                if before in FINITE:
                    with pytest.raises(WorkflowError, match="cannot_terminate"):
                        await instance.terminate()
                    assert await status() == before
                else:
                    await instance.terminate()
                    assert await status() == "terminated"
            elif op == "restart":
                await instance.restart()
                assert await status() == "queued"
                since_restart = len(runs)
            elif op == "pause":
                await instance.pause()
                after = await status()
                if before in FINITE or before in ("paused", "waitingForPause"):
                    assert after == before
                else:
                    assert after in ("paused", "waitingForPause")
            else:
                await instance.resume()
                after = await status()
                if before in FINITE or before in ("queued", "running", "waiting"):
                    assert after == before
                else:
                    assert after in ("running", "waiting")
            this_run = runs[since_restart:]
            assert this_run.count("a") <= 1 and this_run.count("b") <= 2, runs

        final = await status()
        await instance.resume()
        if final not in FINITE:
            await instance.sendEvent(type="ok", payload="last")
        await emulator.drain()
        found = await instance.status()
        if final in FINITE:
            assert found["status"] == final
        else:  # it ends, each step run once in its last run (b: a failed attempt, then one)
            assert found["status"] == "complete", found
            assert runs[since_restart:] == ["a", "b", "b"], runs
            assert found["output"] == "last" or isinstance(found["output"], int)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=ops)
def test_any_sequence_of_lifecycle_calls_keeps_cloudflares_rules(
    steps: list[tuple[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp), steps))
