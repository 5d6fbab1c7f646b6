"""The AI pipeline's Workflow design (wrangler.workflow.toml): one TaskWorkflow instance per
task, each segment a durable step with its own retries, the same endpoints and results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cfemu.clock import VirtualClock
from cfemu.emulator import Emulator
from tests.cli.devproc import cfemu_dev, run_cli
from tests.test_ai_worker import (
    CAPACITY,
    CONFIG,
    MODEL,
    ScriptedModel,
    get_task,
    long_question,
    submit,
)

pytestmark = pytest.mark.anyio

WORKFLOW = Path(CONFIG).with_name("wrangler.workflow.toml")


async def _run(
    config: Path, model: ScriptedModel, question: str, state: Path | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Submit one task and drain: (GET /api/tasks/<id>, GET /api/queue-status)."""
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emulator:
        await emulator.apply_migrations("DB")
        emulator.ai.register(MODEL, model)
        async with emulator.client() as client:
            task_id = await submit(client, question)
            await emulator.drain()
            report = (await client.get("/api/queue-status")).json()
            return await get_task(client, task_id), report


async def test_the_workflow_design_gives_the_queue_designs_answers_and_figures() -> None:
    runs = {}
    for config in (CONFIG, WORKFLOW):
        model = ScriptedModel()
        model.failures["long"] = {2: 2}  # part 2 fails on its first two calls
        task, report = await _run(config, model, long_question(3))
        runs[config] = (task, report, model.calls)
    (queued, queue_report, queue_calls), (flowed, flow_report, flow_calls) = runs.values()
    assert flowed["status"] == queued["status"] == "completed"
    assert flowed["result"] == queued["result"]
    assert flowed["segments"] == queued["segments"] == {"total": 3, "done": 3}
    assert flowed["attempts"] == queued["attempts"] == 3
    assert flowed["workflow"] == "complete" and "workflow" not in queued
    # a segment step that completed is never asked again: part 1 once, part 2 three times
    assert flow_calls == queue_calls == {("long", 1): 1, ("long", 2): 3, ("long", 3): 1}
    for key in ("attempts", "failedAttempts", "retries", "failureRate", "errorTypes"):
        assert flow_report[key] == queue_report[key], key
    assert flow_report["queue"] is None and flow_report["depth"] == 0


async def test_a_segment_failing_every_attempt_fails_the_task_and_the_instance() -> None:
    model = ScriptedModel()
    model.always_fail.add("DOOMED")
    async with Emulator.from_config(WORKFLOW, clock=VirtualClock()) as emulator:
        await emulator.apply_migrations("DB")
        emulator.ai.register(MODEL, model)
        async with emulator.client() as client:
            task_id = await submit(client, "This question is DOOMED")
            await emulator.drain()
            failed = await get_task(client, task_id)
            report = (await client.get("/api/queue-status")).json()
        status = await (await emulator.env.TASK_WORKFLOW.get(task_id)).status()
    queue_model = ScriptedModel()
    queue_model.always_fail.add("DOOMED")
    _, queue_report = await _run(CONFIG, queue_model, "This question is DOOMED")
    for key in ("attempts", "failedAttempts", "retries", "failureRate", "taskFailureRate"):
        assert report[key] == queue_report[key], key
    assert report["failedAttempts"] == 3
    assert failed["status"] == "failed" and failed["workflow"] == "errored"
    assert failed["attempts"] == 3 and not failed["deadLettered"]
    assert failed["error"] == f"InferenceUpstreamError: {CAPACITY}"
    assert failed["errorType"] == "InferenceUpstreamError 3040"
    assert failed["completedAt"] is not None
    assert model.calls == {("DOOMED", 1): 3}
    assert status["error"] == {"name": "InferenceUpstreamError", "message": CAPACITY}


async def test_a_restarted_emulator_resumes_the_task_without_asking_answered_segments(
    tmp_path: Path,
) -> None:
    model = ScriptedModel()
    model.failures["long"] = {2: 1}
    state = tmp_path / "state"
    async with Emulator.from_config(WORKFLOW, clock=VirtualClock(), persist_to=state) as first:
        await first.apply_migrations("DB")
        first.ai.register(MODEL, model)
        async with first.client() as client:
            task_id = await submit(client, long_question(3))
            await first.advance(0.5)  # part 2 failed; its retry waits 1 second
            before = await get_task(client, task_id)
    assert before["status"] == "retrying" and before["segments"]["done"] == 1
    async with Emulator.from_config(WORKFLOW, clock=VirtualClock(), persist_to=state) as second:
        second.ai.register(MODEL, model)
        await second.drain()
        async with second.client() as client:
            done = await get_task(client, task_id)
    assert done["status"] == "completed" and done["workflow"] == "complete"
    assert model.calls == {("long", 1): 1, ("long", 2): 2, ("long", 3): 1}


@pytest.mark.slow
async def test_cfemu_dev_runs_the_workflow_design_and_the_cli_describes_it(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    args = ("-c", str(WORKFLOW), "--persist-to", str(state), "--apply-migrations")
    async with cfemu_dev(*args) as dev, dev.client() as client:
        response = await client.post(
            "/api/tasks",
            json={"taskType": "question", "question": "Why?", "user": {"id": "u"}},
        )
        assert response.status_code == 202, response.text
        task_id = response.json()["taskId"]
        done = await dev.poll(
            f"/api/tasks/{task_id}", lambda r: r.json()["status"] in ("completed", "failed")
        )
        assert done.json()["status"] == "completed"
        assert done.json()["workflow"] == "complete"
        cli = ("-c", str(WORKFLOW), "--persist-to", str(state))
        code, out, err = run_cli("workflows", "instances", "describe", "ai-task", task_id, *cli)
        assert code == 0, err
        assert "Status:                ✅ Completed" in out
        for name in ("mark processing", "segment 1 of 1", "save result", "mark completed"):
            assert f"Name:      {name}" in out
        code, out, err = run_cli("workflows", "trigger", "ai-task", '{"taskId": "x"}', *cli)
        assert code == 1 and "A running 'cfemu dev' runs its Workflows" in err
    code, out, _ = run_cli("workflows", "instances", "list", "ai-task", "--json", *cli)
    assert [i["status"] for i in json.loads(out)] == ["complete"]


@pytest.mark.slow
def test_the_demo_runs_the_workflow_design_to_a_summary() -> None:
    import subprocess
    import sys

    example = Path(CONFIG).parent / "examples" / "ai_worker.py"
    args = ["--config", str(WORKFLOW), "--tasks", "3", "--fail-rate", "0.3", "--latency", "0"]
    result = subprocess.run(
        [sys.executable, str(example), *args, "--seed", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(CONFIG).parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Workflow TASK_WORKFLOW, 3 attempts per segment step" in out
    assert "progress: 3/3 final" in out
    report = json.loads(out.split("GET /api/queue-status:\n", 1)[1])
    assert report["queue"] is None and report["deadLettered"] == 0
    assert report["tasks"]["completed"] + report["tasks"]["failed"] == 3
    assert report["failedAttempts"] > 0  # seed 4 makes some calls fail: retried per step
