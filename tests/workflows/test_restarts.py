"""A property: Workflow instances stopped and restarted at random points (the emulator
closed and opened again on the same state folder), with injected step failures, end with
every step's side effect applied exactly once, plus once more per stop that caught the step
in progress (after its effect, before its result was recorded), as Cloudflare promises.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfemu import Emulator, VirtualClock
from cfemu.workflows.store import WorkflowStore, store_file
from tests.workflows.conftest import project

STEPS = 5
INSTANCES = ("a", "b")

SOURCE = f"""
from workers import WorkflowEntrypoint

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        me = event["instanceId"]
        plan = event["payload"]
        results = []
        for i in range({STEPS}):
            @step.do(f"s{{i}}", config={{"retries": {{"limit": 3, "delay": "1 second"}}}})
            async def effect(ctx):
                self.env.EFFECT(me, i)
                await self.env.WORK(plan["work"][i])  # the step is in progress meanwhile
                return {{"i": i, "epoch": self.env.EPOCH}}

            results.append(await effect())
            await step.sleep(f"z{{i}}", plan["sleeps"][i])
            if i == 2:
                got = await step.wait_for_event("go", "go", timeout="365 days")
                results.append(got["payload"])
        return results
"""

plans = st.fixed_dictionaries(
    {
        "work": st.lists(st.integers(0, 30), min_size=STEPS, max_size=STEPS),
        "sleeps": st.lists(st.integers(0, 40_000), min_size=STEPS, max_size=STEPS),
    }
)
scenarios = st.fixed_dictionaries(
    {
        "plans": st.fixed_dictionaries({name: plans for name in INSTANCES}),
        # virtual seconds each emulator lifetime runs before it is stopped
        "stops": st.lists(st.floats(0, 60, allow_nan=False), min_size=1, max_size=5),
        # the lifetime in which the awaited event is sent (0: at once)
        "event_in": st.integers(0, 5),
        # a step attempt failed by fault injection (in whichever instance runs it first),
        # per lifetime: (lifetime, step)
        "faults": st.sets(st.tuples(st.integers(0, 5), st.integers(0, STEPS - 1)), max_size=4),
    }
)


def recorded(path: Path) -> set[tuple[str, int]]:
    """``(instance, step)`` of every ``step.do`` result in the state folder."""
    store = WorkflowStore(store_file(path))
    try:
        return {
            (name, int(key[len("do:s") :].rsplit("-", 1)[0]))
            for name in INSTANCES
            for key, _ in store.steps("flow", name)
            if key.startswith("do:s")
        }
    finally:
        store.close()


async def scenario(folder: Path, case: dict[str, Any]) -> None:
    config = project(folder, SOURCE)
    state = folder / "state"
    clock = VirtualClock()
    effects: dict[tuple[str, int], list[int]] = defaultdict(list)  # -> lifetimes
    on_disk: dict[int, set[tuple[str, int]]] = {}  # lifetime -> steps recorded at its stop
    lifetimes = len(case["stops"]) + 1  # the last one runs to the end
    for life in range(lifetimes):

        def effect(instance: str, i: int, life: int = life) -> None:
            effects[instance, i].append(life)

        async def work(ms: int) -> None:
            await clock.sleep(ms / 1000)

        emulator = Emulator.from_config(
            config,
            clock=clock,
            persist_to=state,
            extra_vars={"EFFECT": effect, "WORK": work, "EPOCH": life},
        )
        async with emulator:
            for when, i in case["faults"]:
                if when == life:
                    emulator.faults.arm(
                        "workflows.step",
                        f"flow:s{i}",
                        error=lambda: RuntimeError("injected"),
                        times=1,
                    )
            flow = emulator.env.FLOW
            if life == 0:
                for name in INSTANCES:
                    await flow.create(id=name, params=case["plans"][name])
            if life == min(case["event_in"], lifetimes - 1):
                for name in INSTANCES:
                    await (await flow.get(name)).sendEvent(type="go", payload=f"go-{name}")
            if life < lifetimes - 1:
                await emulator.advance(case["stops"][life])
            else:
                await emulator.drain()
                finals = {name: await (await flow.get(name)).status() for name in INSTANCES}
        if life < lifetimes - 1:
            on_disk[life] = recorded(state)

    for name in INSTANCES:
        assert finals[name]["status"] == "complete", finals[name]
        output = finals[name]["output"]
        assert output[3] == f"go-{name}"
        results = output[:3] + output[4:]
        assert [r["i"] for r in results] == list(range(STEPS))
        for r in results:
            runs = effects[name, r["i"]]
            # at most one effect per lifetime (faults fail attempts before the function
            # runs), and the recorded result is the last one's
            assert runs == sorted(set(runs)), (name, r, runs)
            assert runs[-1] == r["epoch"], (name, r, runs)
    for (name, i), runs in effects.items():
        for life in runs[:-1]:
            # an effect repeated later: its lifetime stopped before recording the step
            assert (name, i) not in on_disk[life], (name, i, runs)
    for life, steps in on_disk.items():
        for name, i in steps:
            # a step recorded at a stop is never run again
            assert all(run <= life for run in effects[name, i]), (name, i, effects[name, i])


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(case=scenarios)
def test_steps_apply_exactly_once_across_random_restarts(case: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp), case))
