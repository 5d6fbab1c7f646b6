"""The AI pipeline's Durable Object path (wrangler.durable.toml): one TaskCoordinator per
task owns the segment plan and answers, with the same endpoints and results."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu._faults import FaultRule
from cfemu.clock import VirtualClock
from cfemu.emulator import Emulator
from cfemu.testing import run_in_durable_object
from tests.test_ai_worker import CONFIG, MODEL, get_task, submit

pytestmark = pytest.mark.anyio

DURABLE = Path(CONFIG).with_name("wrangler.durable.toml")
QUESTION = " ".join(f"Sentence number {i} asks why the sky looks blue today." for i in range(40))


async def _answer(config: Path, fail_first: int = 0) -> tuple[dict[str, object], Emulator]:
    emulator = Emulator.from_config(config, clock=VirtualClock())
    async with emulator:
        await emulator.apply_migrations("DB")
        if fail_first:
            emulator.faults.add(
                FaultRule("ai.run", MODEL, lambda: RuntimeError("3040: busy"), times=1, skip=2)
            )
        async with emulator.client() as client:
            task_id = await submit(client, QUESTION)
            await emulator.drain()
            task = await get_task(client, task_id)
        if "TASK_COORDINATOR" in emulator.env:
            stub = emulator.env.TASK_COORDINATOR.getByName(task_id)

            def segments(obj: object, ctx: object) -> list[object]:
                sql = ctx.storage.sql  # type: ignore[attr-defined]
                return [
                    r["idx"] for r in sql.exec("SELECT idx FROM segments WHERE answer IS NOT NULL")
                ]

            task["coordinated"] = await run_in_durable_object(stub, segments)
        task["ai_calls"] = emulator.ai.stats().calls
    return task, emulator


async def test_the_durable_object_path_gives_the_queue_paths_results() -> None:
    plain, _ = await _answer(CONFIG)
    coordinated, _ = await _answer(DURABLE)
    assert plain["status"] == coordinated["status"] == "completed"
    assert coordinated["result"] == plain["result"]
    segments = coordinated["segments"]
    assert isinstance(segments, dict) and segments["total"] == segments["done"] > 1
    assert coordinated["coordinated"] == list(range(segments["total"]))


async def test_a_retried_task_resumes_from_the_coordinators_answers() -> None:
    task, _ = await _answer(DURABLE, fail_first=1)
    assert task["status"] == "completed" and task["attempts"] == 2
    plain, _ = await _answer(CONFIG)
    assert task["result"] == plain["result"]
    # every segment was answered once, plus the one failed call: nothing was redone
    segments = task["segments"]
    assert isinstance(segments, dict)
    assert task["ai_calls"] == segments["total"] + 1
