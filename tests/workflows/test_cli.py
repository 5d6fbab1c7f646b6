"""``cfemu workflows ...`` on a state folder: wrangler's verbs and output, and what the
next emulator on the folder does with what they wrote."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.cli import main
from cfemu.workflows.store import store_file
from tests.workflows.conftest import project

pytestmark = pytest.mark.anyio

SOURCE = """
from pathlib import Path
from workers import WorkflowEntrypoint

LOG = Path(__file__).parent / "side-effects.log"

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("charge", config={"retries": {"limit": 2, "delay": "1 second",
                                               "backoff": "constant"}})
        async def charge(ctx):
            with LOG.open("a") as f:
                f.write(f"charge {event['instanceId']}\\n")
            if event["payload"].get("declines", 0) >= ctx["attempt"]:
                raise ValueError(f"card declined on attempt {ctx['attempt']}")
            return {"charged": event["payload"]["amount"]}

        charged = await charge()
        await step.sleep("cool down", "3 days")
        approval = await step.wait_for_event("approval", "approved", timeout="1 week")
        return [charged, approval["payload"]]
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _cli(config: Path, state: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    return run(capsys, "workflows", *argv, "-c", str(config), "--persist-to", str(state))


async def _fill(config: Path, state: Path) -> None:
    """``a`` waits for its event (one failed charge attempt first); ``b`` completed."""
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        a = await emu.env.FLOW.create(id="a", params={"amount": 5, "declines": 1})
        await emu.advance(10)
        b = await emu.env.FLOW.create(id="b", params={"amount": 7})
        await emu.advance(4 * 86400)
        await b.sendEvent(type="approved", payload={"by": "ana"})
        await emu.advance(10)
        assert (await a.status())["status"] == "waiting"
        assert (await b.status())["status"] == "complete"


async def test_list_and_describe_show_the_config_workflows_and_status_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    await _fill(config, state)
    code, out, _ = _cli(config, state, capsys, "list")
    assert code == 0
    assert "Showing 1 workflow:" in out
    row = next(line for line in out.splitlines() if "│ flow" in line)
    assert [c.strip() for c in row.split("│")[1:4]] == ["flow", "app", "Flow"]
    monkeypatch.chdir(tmp_path)  # no config found from here: the state's Workflows
    code, out, _ = run(capsys, "workflows", "list", "--persist-to", str(state), "--json")
    assert code == 0
    assert json.loads(out) == [{"name": "flow", "script_name": None, "class_name": None}]
    code, out, _ = _cli(config, state, capsys, "describe", "flow", "--json")
    described = json.loads(out)
    assert described["instances"]["waiting"] == 1
    assert described["instances"]["complete"] == 1
    assert described["instances"]["errored"] == 0
    code, out, _ = _cli(config, state, capsys, "describe", "flow")
    assert "Class Name:   Flow" in out and "  complete:         1" in out


async def test_instances_list_is_newest_first_with_wranglers_status_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    await _fill(config, state)
    code, out, _ = _cli(config, state, capsys, "instances", "list", "flow")
    assert code == 0 and "Showing 2 instances from page 1:" in out
    rows = [line.split("│") for line in out.splitlines() if line.startswith("│ ")][1:]
    assert [(r[1].strip(), r[3].strip()) for r in rows] == [
        ("b", "✅ Completed"),
        ("a", "⏰ Waiting"),
    ]
    code, out, _ = _cli(config, state, capsys, "instances", "list", "flow", "--reverse", "--json")
    assert [i["id"] for i in json.loads(out)] == ["a", "b"]
    code, out, _ = _cli(
        config, state, capsys, "instances", "list", "flow", "--status", "waiting", "--json"
    )
    assert [i["id"] for i in json.loads(out)] == ["a"]
    code, _, err = _cli(config, state, capsys, "instances", "list", "flow", "--status", "done")
    assert code == 1 and 'invalid status "done"' in err
    code, out, err = _cli(config, state, capsys, "instances", "list", "flow", "--status", "paused")
    assert code == 0 and out == ""
    assert 'There are no instances in workflow "flow"' in err


async def test_describe_prints_each_step_with_its_attempts_and_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    await _fill(config, state)
    code, out, _ = _cli(config, state, capsys, "instances", "describe", "flow", "a")
    assert code == 0
    assert "Instance Id:           a" in out
    assert "Status:                ⏰ Waiting" in out
    assert "Last Successful Step:  cool down" in out
    assert "Trigger:" not in out  # not recorded: not invented
    charge = out[out.index("Name:      charge") : out.index("Name:      cool down")]
    assert "Type:      🎯 Step" in charge and "Success:   ✅ Yes" in charge
    assert 'Output:    {"charged": 5}' in charge
    attempts = [line for line in charge.splitlines() if line.startswith("│ 20") or "│ 19" in line]
    assert len(attempts) == 2
    assert "❌ Error" in attempts[0] and "ValueError: card declined on attempt 1" in attempts[0]
    assert "✅ Success" in attempts[1]
    sleep = out[out.index("Name:      cool down") :]
    assert "Type:      💤 Sleeping" in sleep and "Duration:  3 days" in sleep
    wait = out[out.index("Name:      approval") :]  # started; ends at its deadline
    assert "Type:      👀 Waiting for event" in wait and "Duration:  7 days" in wait

    code, out, _ = _cli(config, state, capsys, "instances", "describe", "flow", "--json")
    latest = json.loads(out)
    assert latest["id"] == "b" and latest["status"] == "complete" and latest["success"] is True
    assert latest["output"] == [{"charged": 7}, {"by": "ana"}]
    kinds = [(s["type"], s["name"]) for s in latest["steps"]]
    assert kinds == [("step", "charge"), ("sleep", "cool down"), ("waitForEvent", "approval")]
    assert latest["steps"][2]["output"]["payload"] == {"by": "ana"}
    assert [a["success"] for a in latest["steps"][0]["attempts"]] == [True]

    code, out, _ = _cli(
        config, state, capsys, "instances", "describe", "flow", "b", "--truncate-output-limit", "5"
    )
    assert 'Output:    {"cha[...output truncated]' in out
    code, out, _ = _cli(
        config, state, capsys, "instances", "describe", "flow", "b", "--no-step-output"
    )
    assert "Output:" not in out
    code, _, err = _cli(config, state, capsys, "instances", "describe", "flow", "zzz")
    assert code == 1 and 'Instance "zzz" not found' in err


async def test_trigger_queues_an_instance_that_the_next_emulator_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    code, out, _ = _cli(config, state, capsys, "trigger", "flow", '{"amount": 3}', "--id", "t1")
    assert code == 0
    assert out.startswith('🚀 Workflow instance "t1" has been queued successfully')
    code, out, _ = _cli(config, state, capsys, "trigger", "flow", "--json")
    generated = json.loads(out)["id"]
    assert len(generated) == 36
    code, out, _ = _cli(config, state, capsys, "instances", "list", "flow", "--json")
    assert {i["id"]: i["status"] for i in json.loads(out)} == {"t1": "queued", generated: "queued"}

    code, _, err = _cli(config, state, capsys, "trigger", "flow", '{"amount": 3}', "--id", "t1")
    assert code == 1 and "(instance.already_exists) Instance t1 already exists" in err
    code, _, err = _cli(config, state, capsys, "trigger", "flow", "{bad")
    assert code == 1 and 'Error while parsing instance parameters: "{bad"' in err
    code, _, err = _cli(config, state, capsys, "trigger", "flow", "--id", "no spaces")
    assert code == 1 and "Workflow instance has invalid id" in err
    code, _, err = _cli(config, state, capsys, "trigger", "other")
    assert code == 1 and 'Workflow "other" is not in the config; Workflows: flow' in err

    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        await emu.advance(4 * 86400)
        t1 = await emu.env.FLOW.get("t1")
        await t1.sendEvent(type="approved", payload="ok")
        await emu.advance(1)
        assert await t1.status() == {
            "status": "complete",
            "output": [{"charged": 3}, "ok"],
            "error": None,
        }


async def test_pause_resume_terminate_restart_and_send_event_change_the_stored_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    await _fill(config, state)
    log = config.parent / "side-effects.log"
    assert log.read_text().count("charge b") == 1

    code, out, _ = _cli(config, state, capsys, "instances", "pause", "flow", "a")
    assert out.strip() == '⏸️ The instance "a" from flow was paused successfully'
    code, out, _ = _cli(
        config, state, capsys, "instances", "send-event", "flow", "a", "--type", "approved",
        "--payload", '{"by": "bo"}',
    )  # fmt: skip
    assert code == 0
    assert out.strip() == (
        '📤 The event with type "approved" and payload "{"by": "bo"}" was sent to the '
        'instance "a" from flow'
    )
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        await emu.drain()  # a paused instance does not run
        assert await (await emu.env.FLOW.get("a")).status() == {
            "status": "paused",
            "error": None,
            "output": None,
        }

    code, out, _ = _cli(config, state, capsys, "instances", "resume", "flow", "a")
    assert out.strip() == '🔄 The instance "a" from flow was resumed successfully'
    code, _, err = _cli(config, state, capsys, "instances", "terminate", "flow", "b")
    assert code == 1 and "(instance.cannot_terminate)" in err
    code, _, err = _cli(
        config, state, capsys, "instances", "send-event", "flow", "b", "--type", "approved"
    )
    assert code == 1 and "(instance.cannot_send_event)" in err
    code, out, _ = _cli(config, state, capsys, "instances", "restart", "flow", "b")
    assert out.strip() == '🥷 The instance "b" from flow was restarted successfully'
    code, out, _ = _cli(config, state, capsys, "trigger", "flow", '{"amount": 1}', "--id", "c")
    code, out, _ = _cli(config, state, capsys, "instances", "terminate", "flow", "latest")
    assert out.strip() == '🥷 The instance "c" from flow was terminated successfully'

    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        await emu.drain()
        a = await (await emu.env.FLOW.get("a")).status()
        b = await (await emu.env.FLOW.get("b")).status()
        c = await (await emu.env.FLOW.get("c")).status()
    assert a == {"status": "complete", "output": [{"charged": 5}, {"by": "bo"}], "error": None}
    assert b["status"] == "errored"  # replayed from the start: no event this time
    assert b["error"]["name"] == "WorkflowTimeoutError"
    assert c == {"status": "terminated", "error": None, "output": None}
    assert log.read_text().count("charge b") == 2  # restart forgot the recorded charge
    assert log.read_text().count("charge a") == 2  # its two attempts in _fill: not re-run


async def test_writes_refuse_while_an_emulator_holds_the_folder_and_reads_still_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    await _fill(config, state)
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        for argv in (
            ("trigger", "flow"),
            ("instances", "pause", "flow", "a"),
            ("instances", "terminate", "flow", "a"),
            ("instances", "send-event", "flow", "a", "--type", "approved"),
        ):
            code, _, err = _cli(config, state, capsys, *argv)
            assert code == 1, argv
            assert "cannot " in err and "A running 'cfemu dev' runs its Workflows" in err
        code, out, _ = _cli(config, state, capsys, "instances", "list", "flow", "--json")
        assert code == 0 and {i["id"] for i in json.loads(out)} == {"a", "b"}
        assert (await (await emu.env.FLOW.get("a")).status())["status"] == "waiting"


async def test_describe_reads_a_file_recorded_without_attempts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    await _fill(config, state)
    conn = sqlite3.connect(store_file(state))
    conn.execute("DROP TABLE attempts")  # as an older cfemu wrote it
    conn.close()
    code, out, _ = _cli(config, state, capsys, "instances", "describe", "flow", "b", "--json")
    assert code == 0
    steps = json.loads(out)["steps"]
    assert [s["name"] for s in steps] == ["charge", "cool down", "approval"]
    assert steps[0]["success"] is True and steps[0]["attempts"] == []
    assert steps[0]["output"] == {"charged": 7}


async def test_reading_a_folder_without_workflow_state_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    code, out, err = _cli(config, state, capsys, "instances", "list", "flow")
    assert (
        code == 0 and out == "" and 'You can trigger it with "cfemu workflows trigger flow"' in err
    )
    code, _, err = _cli(config, state, capsys, "instances", "describe", "flow")
    assert code == 1 and 'There are no instances in workflow "flow"' in err
    assert not store_file(state).exists()


HANGS = """
import asyncio
from workers import WorkflowEntrypoint

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("forever")
        async def forever():
            await asyncio.Event().wait()

        await forever()
"""


async def test_a_step_running_when_its_instance_is_terminated_shows_as_interrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, state = project(tmp_path, HANGS), tmp_path / "state"
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        instance = await emu.env.FLOW.create(id="x")
        await emu.advance(1)
        code, out, _ = _cli(config, state, capsys, "instances", "describe", "flow", "x", "--json")
        assert code == 0
        running = json.loads(out)["steps"][0]
        assert running["success"] is None and running["attempts"][0]["success"] is None
        await instance.terminate()
    code, out, _ = _cli(config, state, capsys, "instances", "describe", "flow", "x", "--json")
    assert code == 0
    step = json.loads(out)["steps"][0]
    assert step["success"] is False
    assert step["attempts"][0]["error"] == {
        "name": "Interrupted",
        "message": "the instance terminated",
    }


async def test_restart_from_a_step_keeps_the_steps_before_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    await _fill(config, state)
    restart = ("instances", "restart", "flow", "b")
    code, _, err = _cli(config, state, capsys, *restart, "--from-step-name", "nope")
    assert code == 1 and '(instance.cannot_restart) Step "nope" not found' in err
    code, _, err = _cli(config, state, capsys, *restart, "--from-step-count", "2")
    assert code == 1 and "--from-step-name is required when using --from-step-count" in err
    code, _, err = _cli(
        config, state, capsys, *restart, "--from-step-name", "cool down", "--from-step-count", "0"
    )
    assert code == 1 and "--from-step-count must be a positive integer" in err
    code, out, _ = _cli(
        config, state, capsys, *restart, "--from-step-name", "cool down", "--from-step-type",
        "sleep",
    )  # fmt: skip
    assert code == 0 and "was restarted successfully" in out
    code, out, _ = _cli(config, state, capsys, "instances", "describe", "flow", "b", "--json")
    assert [s["name"] for s in json.loads(out)["steps"]] == ["charge"]

    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        await emu.advance(3 * 86400 + 1)
        b = await emu.env.FLOW.get("b")
        assert (await b.status())["status"] == "waiting"  # sleeping again, then waiting
        await b.sendEvent(type="approved", payload="again")
        await emu.advance(1)
        assert await b.status() == {
            "status": "complete",
            "output": [{"charged": 7}, "again"],
            "error": None,
        }
    log = config.parent / "side-effects.log"
    assert log.read_text().count("charge b") == 1  # the charge before it was kept


async def test_delete_and_terminate_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    await _fill(config, state)
    for instance_id in ("t1", "t2"):
        _cli(config, state, capsys, "trigger", "flow", '{"amount": 1}', "--id", instance_id)
    code, _, err = _cli(
        config, state, capsys, "instances", "terminate-all", "flow", "--status", "x"
    )
    assert code == 1 and 'Provided status "x" is not valid' in err
    code, out, _ = _cli(
        config, state, capsys, "instances", "terminate-all", "flow", "--status", "queued"
    )
    assert out.strip() == '🥷 Terminated 2 instance(s) from Workflow "flow" with status "queued"'
    code, out, _ = _cli(config, state, capsys, "instances", "list", "flow", "--json")
    assert {i["id"]: i["status"] for i in json.loads(out)} == {
        "t1": "terminated",
        "t2": "terminated",
        "b": "complete",
        "a": "waiting",
    }

    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps(["t1", "missing"]))
    code, out, err = _cli(
        config, state, capsys, "instances", "delete", "flow", "a", "--filename", str(ids)
    )
    assert code == 1
    assert out.strip() == '🗑️  Deleted workflow instances from "flow": "a", "t1"'
    assert "Failed to delete 1 workflow instance(s):\n  - missing: (instance.not_found)" in err
    code, out, _ = _cli(config, state, capsys, "instances", "list", "flow", "--json")
    assert sorted(i["id"] for i in json.loads(out)) == ["b", "t2"]
    code, _, err = _cli(config, state, capsys, "instances", "delete", "flow")
    assert code == 1 and "Provide at least one workflow instance ID" in err
