"""With a state folder, an instance resumes after a restart without re-running its steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.workflows.store import store_file
from tests.workflows.conftest import project

pytestmark = pytest.mark.anyio

SOURCE = """
from pathlib import Path
from workers import WorkflowEntrypoint

LOG = Path(__file__).parent / "side-effects.log"

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("charge")
        async def charge():
            with LOG.open("a") as f:
                f.write("charge\\n")
            return {"charged": event["payload"]["amount"]}

        charged = await charge()
        await step.sleep("cool down", "3 days")

        @step.do("ship")
        async def ship():
            with LOG.open("a") as f:
                f.write("ship\\n")
            return "shipped"

        return [charged, await ship()]
"""


async def test_an_instance_resumes_from_its_last_recorded_step(tmp_path: Path) -> None:
    config = project(tmp_path, SOURCE)
    log = config.parent / "side-effects.log"
    state = tmp_path / "state"
    clock = VirtualClock()
    async with Emulator.from_config(config, clock=clock, persist_to=state) as first:
        instance = await first.env.FLOW.create(id="order-1", params={"amount": 5})
        await first.advance(3600)
        assert await instance.status() == {"status": "waiting", "error": None, "output": None}
    assert log.read_text() == "charge\n"
    assert store_file(state).is_file()

    async with Emulator.from_config(config, clock=clock, persist_to=state) as second:
        again = await second.env.FLOW.get("order-1")
        await second.drain()
        assert await again.status() == {
            "status": "complete",
            "output": [{"charged": 5}, "shipped"],
            "error": None,
        }
    assert log.read_text() == "charge\nship\n"


async def test_finished_instances_survive_a_restart(tmp_path: Path) -> None:
    config = project(tmp_path, SOURCE)
    state = tmp_path / "state"
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as first:
        await first.env.FLOW.create(id="done", params={"amount": 1})
        await first.drain()
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as second:
        status = await (await second.env.FLOW.get("done")).status()
        assert status == {
            "status": "complete",
            "output": [{"charged": 1}, "shipped"],
            "error": None,
        }
        await second.drain()
    log = config.parent / "side-effects.log"
    assert log.read_text() == "charge\nship\n"
