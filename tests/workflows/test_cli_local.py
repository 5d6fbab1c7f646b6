"""``cfemu workflows ... --local``: the commands through a running ``cfemu dev`` (its Local
Explorer API), as ``wrangler workflows ... --local`` reaches ``wrangler dev``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.devproc import cfemu_dev, free_port, run_cli
from tests.workflows.conftest import project

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SOURCE = """
from workers import WorkflowEntrypoint

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("prepare")
        async def prepare():
            return {"n": event["payload"]["n"]}

        prepared = await prepare()
        go = await step.wait_for_event("go", "go", timeout="1 hour")

        @step.do("finish")
        async def finish():
            return prepared["n"] * go["payload"]["times"]

        return await finish()
"""


def until(call: Callable[[], tuple[int, str, str]], status: str) -> Any:
    """The JSON a CLI call prints once its (first) instance has ``status`` (bounded)."""
    for _ in range(100):
        code, out, err = call()
        assert code == 0, err
        found = json.loads(out)
        first = found[0] if isinstance(found, list) and found else found
        if isinstance(first, dict) and first.get("status") == status:
            return found
    raise AssertionError(f"never {status}: {out}")


def test_local_without_a_dev_session_says_so() -> None:
    port = free_port()
    code, _, err = run_cli("workflows", "list", "--local", "--port", str(port))
    assert code == 1
    assert f"Could not connect to local dev session on port {port}" in err


async def test_every_command_goes_through_the_running_dev_session(tmp_path: Path) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    async with cfemu_dev("-c", str(config), "--persist-to", str(state)) as dev:
        local = ("-c", str(config), "--local", "--port", str(dev.port))

        def cli(*argv: str) -> tuple[int, str, str]:
            return run_cli("workflows", *argv, *local)

        code, out, err = cli("list")
        assert code == 0, err
        assert "Showing 1 workflow from local dev session:" in out
        code, out, err = cli("trigger", "flow", '{"n": 6}', "--id", "w1")
        assert (code, out.strip()) == (
            0,
            '🚀 Workflow instance "w1" has been triggered successfully',
        )
        listed = until(lambda: cli("instances", "list", "flow", "--json"), "waiting")
        assert [(i["id"], i["status"]) for i in listed] == [("w1", "waiting")]

        code, out, err = cli("instances", "pause", "flow", "w1")
        assert code == 0 and "was paused successfully" in out, err
        code, out, err = cli("instances", "resume", "flow", "latest")
        assert code == 0 and '"w1" from flow was resumed successfully' in out, err
        code, out, err = cli(
            "instances", "send-event", "flow", "w1", "--type", "go", "--payload", '{"times": 7}'
        )
        assert code == 0, err
        found = until(lambda: cli("instances", "describe", "flow", "w1", "--json"), "complete")
        assert found["status"] == "complete" and found["output"] == 42
        assert [s["name"] for s in found["steps"]] == ["prepare", "go", "finish"]
        code, out, err = cli("instances", "describe", "flow", "w1")
        assert "Status:                ✅ Completed" in out
        code, out, err = cli("describe", "flow")
        assert "  complete:         1" in out

        code, _, err = cli("instances", "terminate", "flow", "w1")
        assert code == 1 and "Local API error:" in err and "finite state" in err
        code, _, err = cli("instances", "delete", "flow", "w1")
        assert code == 1 and "works on the state folder only" in err
        # without --local, a writing command refuses and says how to go through dev
        code, _, err = run_cli("workflows", "trigger", "flow", "-c", str(config), "--persist-to",
                               str(state))  # fmt: skip
        assert code == 1 and "add --local (and --port) to go through it" in err
