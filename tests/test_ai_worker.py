"""The AI task pipeline (examples/ai_worker.py), unchanged, on the emulator and a virtual clock."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu import InferenceUpstreamError, QueueSendError
from cfemu._faults import FaultRule
from cfemu.clock import VirtualClock
from cfemu.emulator import Emulator

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "wrangler.toml"
EXAMPLE = ROOT / "examples" / "ai_worker.py"
MODEL = "@cf/meta/llama-3.1-8b-instruct"  # [vars] AI_MODEL
QUEUE = "ai-processing-queue"
DLQ = "ai-processing-dlq"
CAPACITY = "3040: No more data centers to forward the request to"


@pytest.fixture
async def pipeline() -> AsyncIterator[Emulator]:
    emulator = Emulator.from_config(CONFIG, clock=VirtualClock())
    async with emulator:
        assert await emulator.apply_migrations("DB") == ["0001_init.sql"]
        yield emulator


@pytest.fixture
async def client(pipeline: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with pipeline.client() as http:
        yield http


def task_body(question: str = "Why is the sky blue?", **overrides: Any) -> dict[str, Any]:
    body = {
        "taskType": "question",
        "question": question,
        "language": "en",
        "user": {"id": "user-1", "name": "Ada"},
    }
    body.update(overrides)
    return body


async def submit(client: httpx.AsyncClient, question: str = "Why is the sky blue?") -> str:
    response = await client.post("/api/tasks", json=task_body(question))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {"taskId": body["taskId"], "status": "pending"}
    return str(body["taskId"])


async def get_task(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def count_rows(pipeline: Emulator, table: str) -> int:
    row = await pipeline.env.DB.prepare(f"SELECT COUNT(*) AS n FROM {table}").first()
    return int(row["n"])


def queue_stats(pipeline: Emulator, queue: str, *names: str) -> tuple[int, ...]:
    """Counters of ``emulator.queues[queue].stats()`` (a dataclass or a mapping)."""
    stats = pipeline.queues[queue].stats()
    if isinstance(stats, Mapping):
        return tuple(int(stats[name]) for name in names)
    return tuple(int(getattr(stats, name)) for name in names)


def long_question(parts: int) -> str:
    """A question of ``parts`` sentences of about 380 characters: one segment each."""
    sentence = "Explain sentence {i} about distributed queues and retries in detail {pad}."
    return " ".join(sentence.format(i=i, pad="x" * 300) for i in range(1, parts + 1))


class ScriptedModel:
    """A model that counts calls per (question, part) and fails when told to."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, int]] = Counter()
        #: question marker -> how many calls of each of its parts fail, {part: failures}
        self.failures: dict[str, dict[int, int]] = {}
        self.always_fail: set[str] = set()

    def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        content = inputs["messages"][-1]["content"]
        found = re.match(r"\(part (\d+) of \d+\) ", content)
        part = int(found.group(1)) if found else 1
        markers = self.always_fail | set(self.failures)
        key = next((m for m in markers if m in content), "long" if found else content)
        self.calls[(key, part)] += 1
        if key in self.always_fail:
            raise InferenceUpstreamError(CAPACITY)
        budget = self.failures.get(key, {})
        if budget.get(part, 0) > 0:
            budget[part] -= 1
            raise InferenceUpstreamError(CAPACITY)
        return {"response": f"answer to part {part}"}


# --- the happy path ---------------------------------------------------------------------------
async def test_submitted_task_is_pending_then_completed(
    pipeline: Emulator, client: httpx.AsyncClient
) -> None:
    task_id = await submit(client, "Why do message queues retry deliveries?")
    before = await get_task(client, task_id)
    assert before["status"] in {"pending", "processing"}
    assert before["completedAt"] is None and "result" not in before

    await pipeline.drain()

    done = await get_task(client, task_id)
    assert done["status"] == "completed"
    assert done["attempts"] == 1
    assert "queues" in done["result"] and "cfemu local model" in done["result"]
    assert done["segments"] == {"total": 1, "done": 1}
    assert done["createdAt"] and done["startedAt"] and done["completedAt"]
    assert done["processingMs"] >= 0
    assert done["user"] == {"id": "user-1", "name": "Ada"}
    assert not done["fallback"] and not done["deadLettered"]
    assert queue_stats(pipeline, QUEUE, "sent", "acked", "retried") == (1, 1, 0)


async def test_long_question_is_answered_segment_by_segment(
    pipeline: Emulator, client: httpx.AsyncClient
) -> None:
    model = ScriptedModel()
    pipeline.ai.register(MODEL, model)
    task_id = await submit(client, long_question(3))
    await pipeline.drain()
    done = await get_task(client, task_id)
    assert done["status"] == "completed"
    assert done["segments"] == {"total": 3, "done": 3}
    assert done["result"] == (
        "Part 1: answer to part 1\n\nPart 2: answer to part 2\n\nPart 3: answer to part 3"
    )
    assert model.calls == {("long", 1): 1, ("long", 2): 1, ("long", 3): 1}


# --- retries resume from saved segments ---------------------------------------------------------
async def test_ai_failing_twice_then_succeeding_resumes_from_saved_segments(
    pipeline: Emulator, client: httpx.AsyncClient
) -> None:
    model = ScriptedModel()
    model.failures["long"] = {2: 2}  # part 2 fails on its first two calls
    pipeline.ai.register(MODEL, model)
    task_id = await submit(client, long_question(3))

    await pipeline.drain()

    done = await get_task(client, task_id)
    assert done["status"] == "completed"
    assert done["attempts"] == 3
    # part 1 was saved by the first attempt and never asked again; part 3 only once
    assert model.calls == {("long", 1): 1, ("long", 2): 3, ("long", 3): 1}
    assert await count_rows(pipeline, "task_segments") == 3
    assert queue_stats(pipeline, QUEUE, "retried", "acked", "dead_lettered") == (2, 1, 0)


async def test_task_that_always_fails_reaches_the_dlq_and_is_marked_failed(
    pipeline: Emulator, client: httpx.AsyncClient
) -> None:
    model = ScriptedModel()
    model.always_fail.add("DOOMED")
    pipeline.ai.register(MODEL, model)
    task_id = await submit(client, "This question is DOOMED")

    await pipeline.drain()

    failed = await get_task(client, task_id)
    assert failed["status"] == "failed"
    assert failed["deadLettered"] is True
    assert failed["attempts"] == 3  # max_retries = 2: three deliveries, then the DLQ
    assert failed["error"] == f"InferenceUpstreamError: {CAPACITY}"
    assert failed["errorType"] == "InferenceUpstreamError 3040"
    assert failed["completedAt"] is not None
    assert model.calls == {("DOOMED", 1): 3}
    assert queue_stats(pipeline, QUEUE, "dead_lettered") == (1,)
    assert queue_stats(pipeline, DLQ, "moved_in", "acked") == (1, 1)


async def test_a_duplicate_delivery_of_a_completed_task_does_no_work(
    pipeline: Emulator, client: httpx.AsyncClient
) -> None:
    model = ScriptedModel()
    pipeline.ai.register(MODEL, model)
    task_id = await submit(client, "What is a duplicate")
    await pipeline.drain()
    await pipeline.env.AI_QUEUE.send({"taskId": task_id, "question": "What is a duplicate"})
    await pipeline.drain()
    assert sum(model.calls.values()) == 1
    assert (await get_task(client, task_id))["attempts"] == 1
    assert queue_stats(pipeline, QUEUE, "acked") == (2,)


# --- the queue is down: direct processing -------------------------------------------------------
async def test_queue_send_failure_falls_back_to_direct_processing(
    pipeline: Emulator, client: httpx.AsyncClient
) -> None:
    pipeline.faults.add(
        FaultRule(
            point="queue.send",
            target=QUEUE,
            make_error=lambda: QueueSendError("Queue send failed: Service Unavailable", status=503),
            times=1,
        )
    )
    response = await client.post("/api/tasks", json=task_body("Is the queue down?"))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "completed" and body["fallback"] is True

    task = await get_task(client, body["taskId"])
    assert task["status"] == "completed" and task["fallback"] is True
    assert task["attempts"] == 1
    assert queue_stats(pipeline, QUEUE, "sent") == (0,)
    status = (await client.get("/api/queue-status")).json()
    assert status["fallbacks"] == 1

    # the next task goes through the queue again
    await submit(client)
    await pipeline.drain()
    assert queue_stats(pipeline, QUEUE, "sent") == (1,)


async def test_direct_processing_retries_then_fails_without_a_queue(
    pipeline: Emulator, client: httpx.AsyncClient
) -> None:
    model = ScriptedModel()
    model.always_fail.add("DOOMED")
    pipeline.ai.register(MODEL, model)
    pipeline.faults.add(
        FaultRule(
            point="queue.send",
            target=QUEUE,
            make_error=lambda: QueueSendError("Queue send failed: Service Unavailable", status=503),
            times=1,
        )
    )
    response = await client.post("/api/tasks", json=task_body("A DOOMED question"))
    assert response.json()["status"] == "failed"
    task = await get_task(client, response.json()["taskId"])
    assert (task["status"], task["attempts"], task["fallback"]) == ("failed", 3, True)
    assert "3040" in task["error"]


# --- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"question": None}, "question", "is required"),
        ({"question": "   "}, "question", "at least 1 character"),
        ({"question": "q" * 20_001}, "question", "must be at most 20000 characters, got 20001"),
        ({"taskType": ""}, "taskType", "at least 1 character"),
        ({"language": "english!"}, "language", "should match pattern"),
        ({"user": {"name": "no id"}}, "user.id", "is required"),
        ({"user": "ada"}, "user", "valid dictionary"),
        ({"priority": 1}, "priority", "is not a known field"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    pipeline: Emulator, client: httpx.AsyncClient, body: dict[str, Any], field: str, reason: str
) -> None:
    payload = task_body()
    payload.update(body)
    payload = {k: v for k, v in payload.items() if v is not None}
    response = await client.post("/api/tasks", json=payload)
    assert response.status_code == 400
    details = response.json()["details"]
    assert any(d["field"] == field and reason in d["reason"] for d in details), details
    assert field in response.json()["error"]
    assert await count_rows(pipeline, "tasks") == 0
    assert queue_stats(pipeline, QUEUE, "sent") == (0,)


@pytest.mark.parametrize(
    ("content", "status", "fragment"),
    [
        (b"{not json", 400, "body: is not valid JSON"),
        (b"[1, 2]", 400, "body: must be a JSON object"),
        (b'{"question": "' + b"x" * 300_000 + b'"}', 413, "body: must be at most 256000 bytes"),
    ],
)
async def test_unusable_bodies_are_refused(
    pipeline: Emulator, client: httpx.AsyncClient, content: bytes, status: int, fragment: str
) -> None:
    response = await client.post(
        "/api/tasks", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert fragment in response.json()["error"]
    assert await count_rows(pipeline, "tasks") == 0


async def test_deeply_nested_json_is_a_400_not_a_crash(
    pipeline: Emulator, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/api/tasks", content=b"[" * 100_000, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["details"] == [{"field": "body", "reason": "is nested too deeply"}]
    assert await count_rows(pipeline, "tasks") == 0


async def test_head_is_answered_like_get(client: httpx.AsyncClient) -> None:
    assert (await client.head("/api/health")).status_code == 200
    assert (await client.head("/api/tasks/does-not-exist")).status_code == 404
    wrong = await client.put("/api/health")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD"


async def test_a_database_without_the_schema_answers_503_with_the_migrations_hint() -> None:
    emulator = Emulator.from_config(CONFIG, clock=VirtualClock())
    async with emulator, emulator.client() as http:  # no apply_migrations
        response = await http.post("/api/tasks", json=task_body())
        assert response.status_code == 503
        body = response.json()
        assert "no such table: tasks" in body["error"]
        assert "cfemu d1 migrations apply DB" in body["hint"]


def test_demo_main_exits_130_without_a_traceback_on_ctrl_c(
    example_module: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def interrupted(args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(example_module, "run_demo", interrupted)
    assert example_module.main(["--tasks", "1"]) == 130
    assert "interrupted" in capsys.readouterr().err


async def test_unknown_task_and_route_and_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/tasks/does-not-exist")
    assert missing.status_code == 404
    assert "does-not-exist" in missing.json()["error"]
    assert (await client.get("/api/nothing")).status_code == 404
    wrong = await client.get("/api/tasks")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"


# --- status endpoints -----------------------------------------------------------------------------
async def test_health_checks_d1(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["db"] == "ok"


async def test_health_reports_a_schema_without_the_migrations(
    pipeline: Emulator, client: httpx.AsyncClient
) -> None:
    await pipeline.database("DB").exec("DROP TABLE task_events")
    response = await client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["db"] == "missing tables: task_events"
    assert "cfemu d1 migrations apply" in body["hint"]


async def test_ai_status_reports_model_reachability_and_recent_latency(
    pipeline: Emulator, client: httpx.AsyncClient
) -> None:
    await submit(client, long_question(2))
    await pipeline.drain()
    status = (await client.get("/api/ai-status")).json()
    assert status["model"] == MODEL
    assert status["reachable"] is True
    assert status["recentCalls"] == 2
    assert status["recentLatencyMs"] >= 0
    pipeline.ai.configure(fail_rate=1.0)
    down = (await client.get("/api/ai-status")).json()
    assert down["reachable"] is False and "3040" in down["error"]


async def test_queue_status_numbers_equal_what_the_test_caused(
    pipeline: Emulator, client: httpx.AsyncClient
) -> None:
    model = ScriptedModel()
    model.failures["FLAKY"] = {1: 2}
    model.always_fail.add("DOOMED")
    pipeline.ai.register(MODEL, model)
    empty = (await client.get("/api/queue-status")).json()
    assert empty["tasks"]["total"] == 0 and empty["depth"] == 0
    assert empty["completionRate"] == 0.0 and empty["averageProcessingMs"] is None

    for question in ("fine one", "fine two", "fine three", "FLAKY one", "DOOMED one"):
        await submit(client, question)
    await pipeline.drain()

    status = (await client.get("/api/queue-status")).json()
    assert status["queue"] == QUEUE
    assert (status["depth"],) == queue_stats(pipeline, QUEUE, "depth") == (0,)
    assert status["tasks"] == {
        "total": 5,
        "pending": 0,
        "processing": 0,
        "retrying": 0,
        "completed": 4,
        "failed": 1,
    }
    assert status["attempts"] == 3 + 3 + 3  # 3 fine, FLAKY 3 deliveries, DOOMED 3
    assert status["failedAttempts"] == 2 + 3
    assert status["retries"] == 2 + 2
    assert (status["deadLettered"],) == queue_stats(pipeline, QUEUE, "dead_lettered") == (1,)
    assert status["fallbacks"] == 0
    assert status["completionRate"] == 0.8
    assert status["taskFailureRate"] == 0.2
    assert status["failureRate"] == round(5 / 9, 4)
    assert status["retryRate"] == round(4 / 9, 4)
    assert status["errorTypes"] == {"InferenceUpstreamError 3040": 5}
    assert status["processingRatePerMinute"] == 4  # all completed within the last minute
    assert status["averageProcessingMs"] >= 0


# --- the demo script ------------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_script_runs_to_a_summary_and_exits_zero() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--tasks",
            "4",
            "--fail-rate",
            "0.3",
            "--seed",
            "3",
            "--latency",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "migrations applied: ['0001_init.sql']" in out
    assert "progress: 4/4 final" in out  # not a terminal: plain progress lines
    assert "Summary (4 tasks" in out
    report = json.loads(out.split("GET /api/queue-status:\n", 1)[1])
    assert report["tasks"]["total"] == 4
    assert report["tasks"]["completed"] + report["tasks"]["failed"] == 4
    assert f"completed:           {report['tasks']['completed']}" in out
    assert f"dead-lettered (DLQ): {report['deadLettered']}" in out


# --- segmentation (pure functions of the example) ----------------------------------------------
@pytest.fixture(scope="module")
def example_module() -> Any:
    """The example imported as a module, with cfemu's stand-in as ``workers``."""
    import importlib.util

    import cfemu.runtime.workers_module as stand_in

    saved = sys.modules.get("workers")
    sys.modules["workers"] = stand_in
    try:
        spec = importlib.util.spec_from_file_location("_ai_worker_under_test", EXAMPLE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("workers", None)
        else:
            sys.modules["workers"] = saved
    return module


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("abcdefgh .!?\n")) | st.characters(), min_size=1, max_size=900
    ),
    limit=st.integers(min_value=50, max_value=400),
)
def test_segments_fit_the_limit_and_keep_every_character(
    example_module: Any, text: str, limit: int
) -> None:
    segments = example_module.split_segments(text, limit)
    assert segments
    assert all(len(segment) <= limit for segment in segments)
    assert all(segment == segment.strip() for segment in segments)
    squeeze = "".join
    assert squeeze(squeeze(segments).split()) == squeeze(text.split())
    if len(" ".join(text.split())) <= limit:
        assert segments == [" ".join(text.split())]


def test_long_question_helper_makes_one_segment_per_sentence(example_module: Any) -> None:
    assert len(example_module.split_segments(long_question(3), 400)) == 3
