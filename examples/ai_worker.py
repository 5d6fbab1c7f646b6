"""An asynchronous AI task pipeline on Cloudflare: Worker API -> Queue -> consumer -> D1.

This file is a Cloudflare Python Worker (``main`` in the top-level ``wrangler.toml``): it uses
only Cloudflare's Python Workers API (``workers``), its bindings (``env.DB`` D1,
``env.AI_QUEUE`` Queue producer, ``env.AI`` Workers AI) and pure-Python packages. The same
file runs unchanged on Cloudflare, under ``cfemu dev`` and under the tests.

- ``POST /api/tasks`` validates the task, stores it as ``pending`` in D1, sends it to
  ``ai-processing-queue`` and answers ``202`` at once. If the send fails, the task is
  processed directly and the row records the fallback.
- The ``ai-processing-queue`` consumer answers the question with Workers AI, segment by
  segment, saving each segment's answer in D1 as it completes; a retried delivery resumes
  after the last saved segment. Failures are retried (``max_retries = 2``) and then moved
  to ``ai-processing-dlq``, whose consumer marks the task ``failed``.
- ``GET /api/tasks/<id>``, ``/api/health``, ``/api/ai-status`` and ``/api/queue-status``
  report from D1 and ``AI_QUEUE.metrics()``: only what a deployed Worker can see.
- Two other designs of the same pipeline are chosen by the config: a Durable Object per
  task (``wrangler.durable.toml`` binds ``TASK_COORDINATOR``) and a Workflow per task
  (``wrangler.workflow.toml`` binds ``TASK_WORKFLOW``: :class:`TaskWorkflow` runs each
  segment as a durable step with its own retries, instead of the queue).

Run ``python examples/ai_worker.py`` for the demo (see :func:`main` at the end, which uses
cfemu and never runs on Cloudflare).
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if __name__ == "__main__":  # the demo runs outside any Worker: use cfemu's stand-in module
    from cfemu.runtime.workers_module import (
        DurableObject,
        Response,
        WorkerEntrypoint,
        WorkflowEntrypoint,
    )
else:  # a Worker, on Cloudflare or loaded by cfemu
    from workers import DurableObject, Response, WorkerEntrypoint, WorkflowEntrypoint

TASK_QUEUE = "ai-processing-queue"
DEAD_LETTER_QUEUE = "ai-processing-dlq"
DEFAULT_MODEL = "@cf/meta/llama-3.1-8b-instruct"
DEFAULT_SEGMENT_CHARS = 400
DEFAULT_MAX_QUESTION_CHARS = 20_000
#: A POST body larger than this is refused before parsing (413).
MAX_BODY_BYTES = 256_000
#: Attempts when the queue is unavailable and the API processes a task itself
#: (the same as the queue's ``max_retries = 2`` plus the first delivery).
DIRECT_ATTEMPTS = 3
FINAL_STATES = ("completed", "failed")
#: The tables migrations/0001_init.sql creates: /api/health checks they exist.
SCHEMA_TABLES = ("tasks", "task_segments", "task_events")
MIGRATIONS_HINT = (
    "the D1 schema is missing: apply migrations/ first (locally `cfemu d1 migrations apply DB`, "
    "on Cloudflare `wrangler d1 migrations apply ai-tasks --remote`)"
)
_ERROR_CODE = re.compile(r"^\s*(\d{3,5}):")


# --- request validation --------------------------------------------------------------------
class TaskUser(BaseModel):
    """Who asked: an ``id`` is required; a few optional descriptive fields."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    plan: str | None = Field(default=None, max_length=40)


class TaskRequest(BaseModel):
    """The body of ``POST /api/tasks``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    taskType: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    question: str = Field(min_length=1)
    language: str = Field(
        default="en", min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
    )
    user: TaskUser

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


def validation_details(error: ValidationError) -> list[dict[str, str]]:
    """``[{"field": "user.id", "reason": "..."}]`` from a pydantic error, for a 400 body."""
    details = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "body"
        reason = item["msg"]
        if item["type"] == "missing":
            reason = "is required"
        elif item["type"] == "extra_forbidden":
            reason = "is not a known field"
        details.append({"field": field, "reason": reason})
    return details


def bad_request(details: list[dict[str, str]], status: int = 400) -> Response:
    """A JSON error answer naming each field and why it was refused."""
    summary = "; ".join(f"{d['field']}: {d['reason']}" for d in details)
    return Response.json({"error": f"invalid task: {summary}", "details": details}, status=status)


# --- small helpers ---------------------------------------------------------------------------
def now_ms() -> int:
    """Milliseconds since the epoch, as the Worker's clock reads them."""
    return int(time.time() * 1000)


def iso(ms: int | float | None) -> str | None:
    """An ISO-8601 UTC timestamp for a millisecond time, or ``None``."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def error_type(exc: BaseException) -> str:
    """A short class of an error for the statistics: its type and Workers AI code, if any."""
    match = _ERROR_CODE.match(str(exc))
    name = type(exc).__name__
    return f"{name} {match.group(1)}" if match else name


def split_segments(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at sentence or word ends."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return [text]
    sentences = re.split(r"(?<=[.!?])\s+", text)
    segments: list[str] = []
    current = ""
    for sentence in sentences:
        for word in sentence.split(" "):
            while len(word) > limit:  # a single very long word: cut it
                if current:
                    segments.append(current)
                    current = ""
                segments.append(word[:limit])
                word = word[limit:]
            if not word:
                continue
            candidate = f"{current} {word}" if current else word
            if len(candidate) <= limit:
                current = candidate
            else:
                segments.append(current)
                current = word
        # prefer to end a segment at a sentence end once it is reasonably full
        if len(current) >= limit * 0.6:
            segments.append(current)
            current = ""
    if current:
        segments.append(current)
    return segments


def combine(parts: list[str]) -> str:
    """The final answer from the segments' answers, in order."""
    if len(parts) == 1:
        return parts[0]
    return "\n\n".join(f"Part {i}: {part}" for i, part in enumerate(parts, start=1))


# --- the per-task coordinator (optional) -------------------------------------------------------
class TaskCoordinator(DurableObject):
    """One Durable Object per task (``getByName(task_id)``): it owns the task's segment plan,
    records each segment's answer and answers progress, with strong consistency.

    Used when the config binds it as ``TASK_COORDINATOR`` (``wrangler.durable.toml``); the
    queue-only path keeps the same bookkeeping in D1's ``task_segments``.
    """

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        ctx.storage.sql.exec(
            "CREATE TABLE IF NOT EXISTS segments (idx INTEGER PRIMARY KEY, text TEXT NOT NULL, "
            "answer TEXT, latency_ms REAL)"
        )

    async def plan(self, segments: list[str]) -> list[int]:
        """Record the plan on first call (a retry keeps the first plan); the indexes of the
        segments still unanswered."""
        sql = self.ctx.storage.sql
        if sql.exec("SELECT count(*) AS n FROM segments").one()["n"] == 0:
            for index, text in enumerate(segments):
                sql.exec("INSERT INTO segments (idx, text) VALUES (?, ?)", index, text)
        rows = sql.exec("SELECT idx FROM segments WHERE answer IS NULL ORDER BY idx")
        return [row["idx"] for row in rows]

    async def record(self, index: int, answer: str, latency_ms: float) -> None:
        """Save one segment's answer (the first answer wins)."""
        self.ctx.storage.sql.exec(
            "UPDATE segments SET answer = ?, latency_ms = ? WHERE idx = ? AND answer IS NULL",
            answer,
            latency_ms,
            index,
        )

    async def progress(self) -> dict[str, int]:
        """``{"total", "done"}`` segments."""
        row = self.ctx.storage.sql.exec(
            "SELECT count(*) AS total, count(answer) AS done FROM segments"
        ).one()
        return {"total": row["total"], "done": row["done"]}

    async def answers(self) -> list[str]:
        """Every segment's answer, in order (call once all are recorded)."""
        rows = self.ctx.storage.sql.exec("SELECT answer FROM segments ORDER BY idx")
        return [row["answer"] for row in rows]


# --- the Worker ---------------------------------------------------------------------------------
class Default(WorkerEntrypoint):
    """The pipeline's only Worker: HTTP API, queue consumer and dead-letter consumer."""

    # -- configuration from [vars] --
    def _var(self, name: str, default: str) -> str:
        try:
            value = getattr(self.env, name)
        except AttributeError:
            return default
        return str(value) if value is not None else default

    @property
    def model(self) -> str:
        return self._var("AI_MODEL", DEFAULT_MODEL)

    @property
    def segment_chars(self) -> int:
        return max(50, int(self._var("SEGMENT_CHARS", str(DEFAULT_SEGMENT_CHARS))))

    @property
    def max_question_chars(self) -> int:
        return int(self._var("MAX_QUESTION_CHARS", str(DEFAULT_MAX_QUESTION_CHARS)))

    @property
    def retry_delay_seconds(self) -> int:
        return max(0, int(self._var("RETRY_DELAY_SECONDS", "1")))

    # -- HTTP ---------------------------------------------------------------------------------
    async def fetch(self, request: Any) -> Response:
        path = urlparse(str(request.url)).path.rstrip("/") or "/"
        method = str(request.method).upper()
        if method == "HEAD":  # answered as GET; the runtime sends the headers only
            method = "GET"
        try:
            if path == "/api/tasks":
                if method != "POST":
                    return self._not_allowed("POST")
                return await self.create_task(request)
            if path.startswith("/api/tasks/"):
                if method != "GET":
                    return self._not_allowed("GET, HEAD")
                return await self.get_task(path.removeprefix("/api/tasks/"))
            routes = {
                "/api/health": self.health,
                "/api/ai-status": self.ai_status,
                "/api/queue-status": self.queue_status,
            }
            handler = routes.get(path)
            if handler is None:
                return Response.json({"error": f"no route for {path}"}, status=404)
            if method != "GET":
                return self._not_allowed("GET, HEAD")
            return await handler()
        except Exception as exc:  # answer JSON, and say what failed
            print(f"[ai-worker] {method} {path} failed: {exc!r}", file=sys.stderr)
            body = {"error": f"{type(exc).__name__}: {exc}"}
            if "no such table" in str(exc):  # the schema in migrations/ was never applied
                body["hint"] = MIGRATIONS_HINT
                return Response.json(body, status=503)
            return Response.json(body, status=500)

    @staticmethod
    def _not_allowed(allowed: str) -> Response:
        return Response.json(
            {"error": f"method not allowed; use {allowed}"}, status=405, headers={"allow": allowed}
        )

    async def create_task(self, request: Any) -> Response:
        """``POST /api/tasks``: validate, store ``pending``, enqueue, answer 202."""
        raw = await request.text()
        if len(raw.encode()) > MAX_BODY_BYTES:
            return bad_request(
                [{"field": "body", "reason": f"must be at most {MAX_BODY_BYTES} bytes"}], 413
            )
        try:
            data = json.loads(raw)
        except ValueError as exc:
            return bad_request([{"field": "body", "reason": f"is not valid JSON ({exc})"}])
        except RecursionError:
            return bad_request([{"field": "body", "reason": "is nested too deeply"}])
        if not isinstance(data, dict):
            return bad_request([{"field": "body", "reason": "must be a JSON object"}])
        try:
            task = TaskRequest.model_validate(data)
        except ValidationError as exc:
            return bad_request(validation_details(exc))
        limit = self.max_question_chars
        if len(task.question) > limit:
            reason = f"must be at most {limit} characters, got {len(task.question)}"
            return bad_request([{"field": "question", "reason": reason}])

        task_id = uuid.uuid4().hex
        at = now_ms()
        user = task.user.model_dump(exclude_none=True)
        await self.env.DB.batch(
            [
                self.env.DB.prepare(
                    "INSERT INTO tasks (id, task_type, user_json, language, question, status, "
                    "created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)"
                ).bind(
                    task_id, task.taskType, json.dumps(user), task.language, task.question, at, at
                ),
                self._event(task_id, "submitted", at=at),
            ]
        )
        message = {
            "taskId": task_id,
            "taskType": task.taskType,
            "user": user,
            "language": task.language,
            "question": task.question,
        }
        workflow = self._bound("TASK_WORKFLOW")
        try:
            if workflow is not None:  # the Workflow path: one instance per task, same id
                await workflow.create(id=task_id, params={"taskId": task_id})
            else:
                await self.env.AI_QUEUE.send(message)
        except Exception as exc:
            # The queue (or Workflow) is unavailable: do the work here rather than lose it.
            print(f"[ai-worker] dispatch failed, processing {task_id} directly: {exc}")
            status = await self.process_directly(task_id, exc)
            return Response.json(
                {"taskId": task_id, "status": status, "fallback": True}, status=202
            )
        await self._event(task_id, "enqueued").run()
        return Response.json({"taskId": task_id, "status": "pending"}, status=202)

    async def get_task(self, task_id: str) -> Response:
        """``GET /api/tasks/<id>``: status, timestamps, attempts, result or error."""
        row = await self._first("SELECT * FROM tasks WHERE id = ?", task_id)
        if row is None:
            return Response.json({"error": f"task {task_id!r} not found"}, status=404)
        saved = await self._first(
            "SELECT COUNT(*) AS n FROM task_segments WHERE task_id = ?", task_id
        )
        if self._coordinator is not None:  # the Durable Object path: it knows the progress
            progress = await self._coordinator.getByName(task_id).progress()
            saved = {"n": progress["done"]}
        body: dict[str, Any] = {
            "taskId": row["id"],
            "status": row["status"],
            "taskType": row["task_type"],
            "language": row["language"],
            "user": json.loads(row["user_json"]),
            "attempts": row["attempts"],
            "createdAt": iso(row["created_ms"]),
            "updatedAt": iso(row["updated_ms"]),
            "startedAt": iso(row["started_ms"]),
            "completedAt": iso(row["completed_ms"]),
            "segments": {"total": row["segments_total"], "done": saved["n"]},
            "fallback": bool(row["fallback"]),
            "deadLettered": bool(row["dead_lettered"]),
        }
        if row["started_ms"] is not None and row["completed_ms"] is not None:
            body["processingMs"] = row["completed_ms"] - row["started_ms"]
        if row["status"] == "completed":
            body["result"] = row["result"]
        elif row["error"] is not None:
            body["error"] = row["error"]
            body["errorType"] = row["error_type"]
        workflow = self._bound("TASK_WORKFLOW")
        if workflow is not None:  # the Workflow path: its instance's status too
            try:
                body["workflow"] = (await (await workflow.get(task_id)).status())["status"]
            except Exception:  # a fallback task has no instance
                body["workflow"] = None
        return Response.json(body)

    async def health(self) -> Response:
        """``GET /api/health``: the Worker answers, D1 answers and has the schema of
        ``migrations/`` (its tables exist), so a missing migration shows here first."""
        body: dict[str, Any] = {"time": iso(now_ms())}
        try:
            rows = await self.env.DB.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).all()
            found = {row.name for row in rows.results}
            missing = [table for table in SCHEMA_TABLES if table not in found]
            body["db"] = "ok" if not missing else f"missing tables: {', '.join(missing)}"
            if missing:
                body["hint"] = MIGRATIONS_HINT
        except Exception as exc:
            missing = list(SCHEMA_TABLES)
            body["db"] = f"{type(exc).__name__}: {exc}"
        ok = not missing
        body = {"status": "ok" if ok else "degraded", **body}
        return Response.json(body, status=200 if ok else 503)

    async def ai_status(self) -> Response:
        """``GET /api/ai-status``: the model, whether it answers a probe, recent latency."""
        started = time.perf_counter()
        try:
            await self.env.AI.run(self.model, {"prompt": "ping", "max_tokens": 1})
            reachable, probe_error = True, None
        except Exception as exc:
            reachable, probe_error = False, f"{type(exc).__name__}: {exc}"
        probe_ms = (time.perf_counter() - started) * 1000
        recent = await self._first(
            "SELECT COUNT(*) AS n, AVG(latency_ms) AS avg_ms, MAX(latency_ms) AS max_ms "
            "FROM (SELECT latency_ms FROM task_segments ORDER BY created_ms DESC LIMIT 20)"
        )
        body = {
            "model": self.model,
            "reachable": reachable,
            "probeLatencyMs": round(probe_ms, 3),
            "recentCalls": recent["n"],
            "recentLatencyMs": _round(recent["avg_ms"]),
            "recentMaxLatencyMs": _round(recent["max_ms"]),
        }
        if probe_error is not None:
            body["error"] = probe_error
        return Response.json(body)

    async def queue_status(self) -> Response:
        """``GET /api/queue-status``: queue depth and task statistics from D1."""
        queue = self._bound("AI_QUEUE")  # the Workflow design binds no queue
        metrics = await queue.metrics() if queue is not None else None
        counts = {s: 0 for s in ("pending", "processing", "retrying", "completed", "failed")}
        for row in await self._rows("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status"):
            counts[row["status"]] = row["n"]
        total = sum(counts.values())
        by_event = {
            row["event"]: row["n"]
            for row in await self._rows(
                "SELECT event, COUNT(*) AS n FROM task_events GROUP BY event"
            )
        }
        errors = await self._rows(
            "SELECT error_type, COUNT(*) AS n FROM task_events WHERE event = 'attempt_failed' "
            "GROUP BY error_type ORDER BY n DESC, error_type"
        )
        timing = await self._first(
            "SELECT AVG(completed_ms - started_ms) AS avg_ms, "
            "SUM(CASE WHEN completed_ms >= ? THEN 1 ELSE 0 END) AS last_minute "
            "FROM tasks WHERE status = 'completed'",
            now_ms() - 60_000,
        )
        # a task's retries are its attempts after the first (a DLQ move is not a retry)
        flags = await self._first(
            "SELECT SUM(dead_lettered) AS dlq, SUM(fallback) AS fallback, "
            "SUM(MAX(attempts - 1, 0)) AS retries FROM tasks"
        )
        attempts = by_event.get("attempt", 0)
        finished = counts["completed"] + counts["failed"]
        oldest = metrics.get("oldestMessageTimestamp") if metrics else None
        body = {
            "queue": TASK_QUEUE if queue is not None else None,
            "depth": (metrics or {}).get("backlogCount", 0),
            "backlogBytes": (metrics or {}).get("backlogBytes", 0),
            "oldestMessage": oldest.isoformat() if isinstance(oldest, datetime) else oldest,
            "tasks": {"total": total, **counts},
            "processingRatePerMinute": timing["last_minute"] or 0,
            "attempts": attempts,
            "failedAttempts": by_event.get("attempt_failed", 0),
            "retries": flags["retries"] or 0,
            "failureRate": _ratio(by_event.get("attempt_failed", 0), attempts),
            "retryRate": _ratio(flags["retries"] or 0, attempts),
            "deadLettered": flags["dlq"] or 0,
            "fallbacks": flags["fallback"] or 0,
            "completionRate": _ratio(counts["completed"], total),
            "taskFailureRate": _ratio(counts["failed"], finished),
            "averageProcessingMs": _round(timing["avg_ms"]),
            "errorTypes": {row["error_type"]: row["n"] for row in errors},
        }
        return Response.json(body)

    # -- queues -------------------------------------------------------------------------------
    async def queue(self, batch: Any, env: Any = None, ctx: Any = None) -> None:
        if batch.queue == DEAD_LETTER_QUEUE:
            for message in batch.messages:
                await self.dead_letter(message)
            return
        for message in batch.messages:
            await self.consume(message)

    async def consume(self, message: Any) -> None:
        """Process one task message: ack on success, retry (with back-off) on failure."""
        body = message.body
        task_id = body.get("taskId") if isinstance(body, dict) else None
        if not isinstance(task_id, str):
            print(f"[ai-worker] dropping malformed message {message.id}: {body!r}")
            message.ack()
            return
        try:
            outcome = await self.attempt(task_id)
        except Exception as exc:
            try:
                await self.attempt_failed(task_id, exc, will_retry=True)
            except Exception as record_error:  # D1 itself failing: still hand the task back
                print(f"[ai-worker] could not record the failure of {task_id}: {record_error}")
            message.retry(delaySeconds=self.retry_delay_seconds * message.attempts)
            return
        if outcome == "missing":
            print(f"[ai-worker] task {task_id} does not exist; dropping its message")
        message.ack()

    async def dead_letter(self, message: Any) -> None:
        """A task whose retries ran out: mark it ``failed`` with its last error."""
        body = message.body
        task_id = body.get("taskId") if isinstance(body, dict) else None
        if isinstance(task_id, str):
            at = now_ms()
            await self.env.DB.batch(
                [
                    self.env.DB.prepare(
                        "UPDATE tasks SET status = 'failed', dead_lettered = 1, "
                        "error = COALESCE(error, 'moved to the dead-letter queue'), "
                        "updated_ms = ?, completed_ms = ? "
                        "WHERE id = ? AND status != 'completed'"
                    ).bind(at, at, task_id),
                    self._event(task_id, "dead_lettered", at=at),
                ]
            )
        message.ack()

    # -- processing ---------------------------------------------------------------------------
    async def attempt(self, task_id: str) -> str:
        """One processing attempt: ``"completed"``, ``"skipped"`` (already final) or
        ``"missing"``. Raises when inference (or D1) fails; saved segments stay saved."""
        db = self.env.DB
        row = await self._first(
            "SELECT status, attempts, question, language, task_type FROM tasks WHERE id = ?",
            task_id,
        )
        if row is None:
            return "missing"
        if row["status"] in FINAL_STATES:
            return "skipped"  # a duplicate delivery: the work is done
        at = now_ms()
        attempt = row["attempts"] + 1
        await db.batch(
            [
                db.prepare(
                    "UPDATE tasks SET status = 'processing', attempts = ?, updated_ms = ?, "
                    "started_ms = COALESCE(started_ms, ?) WHERE id = ?"
                ).bind(attempt, at, at, task_id),
                self._event(task_id, "attempt", attempt=attempt, at=at),
            ]
        )
        result = await self.answer(task_id, row["question"], row["language"], row["task_type"])
        at = now_ms()
        await db.batch(
            [
                db.prepare(
                    "UPDATE tasks SET status = 'completed', result = ?, error = NULL, "
                    "error_type = NULL, updated_ms = ?, completed_ms = ? WHERE id = ?"
                ).bind(result, at, at, task_id),
                self._event(task_id, "completed", attempt=attempt, at=at),
            ]
        )
        return "completed"

    @property
    def _coordinator(self) -> Any:
        """The ``TASK_COORDINATOR`` Durable Object namespace, if the config binds one."""
        return self._bound("TASK_COORDINATOR")

    def _bound(self, name: str) -> Any:
        """The binding ``env.<name>``, or ``None`` when the config has none."""
        try:
            return getattr(self.env, name)
        except (AttributeError, KeyError):
            return None

    async def answer(self, task_id: str, question: str, language: str, task_type: str) -> str:
        """Segmented inference: answer each segment not saved yet, save it, combine all."""
        segments = split_segments(question, self.segment_chars)
        coordinator = None
        if self._coordinator is not None:
            coordinator = self._coordinator.getByName(task_id)
            pending = set(await coordinator.plan(segments))
            answers: dict[int, str] = {i: "" for i in range(len(segments)) if i not in pending}
        else:
            saved = await self._rows(
                "SELECT segment_index, result FROM task_segments WHERE task_id = ?", task_id
            )
            answers = {row["segment_index"]: row["result"] for row in saved}
        await self._run("UPDATE tasks SET segments_total = ? WHERE id = ?", len(segments), task_id)
        system = (
            f"You are a helpful assistant working on a '{task_type}' task. "
            f"Answer in the language with code '{language}'."
        )
        for index, segment in enumerate(segments):
            if index in answers:
                continue  # answered by an earlier attempt
            content = segment
            if len(segments) > 1:
                content = f"(part {index + 1} of {len(segments)}) {segment}"
            started = time.perf_counter()
            output = await self.env.AI.run(
                self.model,
                {
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": content},
                    ]
                },
            )
            latency_ms = (time.perf_counter() - started) * 1000
            text = output["response"] if isinstance(output, dict) else str(output)
            if coordinator is not None:
                await coordinator.record(index, text, latency_ms)
            await self._run(
                "INSERT INTO task_segments (task_id, segment_index, result, latency_ms, "
                "created_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                *(task_id, index, text, latency_ms, now_ms()),
            )
            answers[index] = text
        if coordinator is not None:
            return combine(await coordinator.answers())
        return combine([answers[i] for i in range(len(segments))])

    # -- the Workflow design's steps (TaskWorkflow) -------------------------------------------
    async def start_workflow_task(self, task_id: str) -> dict[str, Any] | None:
        """Mark the task ``processing`` and plan its segments: ``{"segments", "system"}``,
        or ``None`` when it is missing or already final."""
        row = await self._first(
            "SELECT status, question, language, task_type FROM tasks WHERE id = ?", task_id
        )
        if row is None or row["status"] in FINAL_STATES:
            return None
        segments = split_segments(row["question"], self.segment_chars)
        at = now_ms()
        await self.env.DB.batch(
            [
                self.env.DB.prepare(
                    "UPDATE tasks SET status = 'processing', attempts = MAX(attempts, 1), "
                    "segments_total = ?, updated_ms = ?, started_ms = COALESCE(started_ms, ?) "
                    "WHERE id = ?"
                ).bind(len(segments), at, at, task_id),
                self._event(task_id, "attempt", attempt=1, at=at),
            ]
        )
        system = (
            f"You are a helpful assistant working on a '{row['task_type']}' task. "
            f"Answer in the language with code '{row['language']}'."
        )
        return {"segments": segments, "system": system}

    def segment_step(
        self, task_id: str, task: dict[str, Any], index: int, segment: str, retries: int
    ) -> Any:
        """The function of one segment's ``step.do``: answer it, save it in
        ``task_segments``; a failed attempt is recorded (``retrying``) and re-raised."""
        total = len(task["segments"])

        async def answer_segment(ctx: Any) -> str:
            attempt, at = int(ctx["attempt"]), now_ms()
            statements = [
                self.env.DB.prepare(
                    "UPDATE tasks SET attempts = MAX(attempts, ?), status = 'processing', "
                    "updated_ms = ? WHERE id = ?"
                ).bind(attempt, at, task_id)
            ]
            if attempt > 1:  # a retry counts as an attempt, as a queue redelivery does
                statements.append(self._event(task_id, "attempt", attempt=attempt, at=at))
            await self.env.DB.batch(statements)
            content = segment if total == 1 else f"(part {index + 1} of {total}) {segment}"
            started = time.perf_counter()
            try:
                output = await self.env.AI.run(
                    self.model,
                    {
                        "messages": [
                            {"role": "system", "content": task["system"]},
                            {"role": "user", "content": content},
                        ]
                    },
                )
            except Exception as exc:
                await self.attempt_failed(task_id, exc, will_retry=attempt <= retries)
                raise
            latency_ms = (time.perf_counter() - started) * 1000
            text = output["response"] if isinstance(output, dict) else str(output)
            await self._run(
                "INSERT INTO task_segments (task_id, segment_index, result, latency_ms, "
                "created_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                *(task_id, index, text, latency_ms, now_ms()),
            )
            return text

        return answer_segment

    async def attempt_failed(self, task_id: str, exc: Exception, *, will_retry: bool) -> None:
        """Record a failed attempt: the error on the row, and an event for the statistics."""
        at = now_ms()
        kind = error_type(exc)
        message = f"{type(exc).__name__}: {exc}"
        statements = [
            self.env.DB.prepare(
                "UPDATE tasks SET status = ?, error = ?, error_type = ?, updated_ms = ?, "
                "completed_ms = CASE WHEN ? = 'failed' THEN ? ELSE completed_ms END "
                "WHERE id = ? AND status NOT IN ('completed', 'failed')"
            ).bind(
                "retrying" if will_retry else "failed",
                message,
                kind,
                at,
                "retrying" if will_retry else "failed",
                at,
                task_id,
            ),
            self._event(task_id, "attempt_failed", kind=kind, detail=message, at=at),
        ]
        await self.env.DB.batch(statements)

    async def process_directly(self, task_id: str, send_error: Exception) -> str:
        """The queue refused the task: process it here, with the same retry budget."""
        at = now_ms()
        await self.env.DB.batch(
            [
                self.env.DB.prepare(
                    "UPDATE tasks SET fallback = 1, updated_ms = ? WHERE id = ?"
                ).bind(at, task_id),
                self._event(task_id, "fallback", detail=f"queue send failed: {send_error}", at=at),
            ]
        )
        for attempt in range(1, DIRECT_ATTEMPTS + 1):
            try:
                await self.attempt(task_id)
            except Exception as exc:
                await self.attempt_failed(task_id, exc, will_retry=attempt < DIRECT_ATTEMPTS)
                continue
            return "completed"
        return "failed"

    # -- D1 helpers -----------------------------------------------------------------------------
    def _statement(self, sql: str, args: tuple[Any, ...]) -> Any:
        statement = self.env.DB.prepare(sql)
        return statement.bind(*args) if args else statement

    async def _first(self, sql: str, *args: Any) -> Any:
        """The first row (a dict with attribute access) or ``None``."""
        return await self._statement(sql, args).first()

    async def _rows(self, sql: str, *args: Any) -> list[Any]:
        """Every row of the query's results."""
        return list((await self._statement(sql, args).all())["results"])

    async def _run(self, sql: str, *args: Any) -> Any:
        """Run a statement that returns no rows."""
        return await self._statement(sql, args).run()

    def _event(
        self,
        task_id: str,
        event: str,
        *,
        attempt: int | None = None,
        kind: str | None = None,
        detail: str | None = None,
        at: int | None = None,
    ) -> Any:
        """An INSERT of one row of the event log (run it, or put it in a batch)."""
        return self.env.DB.prepare(
            "INSERT INTO task_events (task_id, event, attempt, error_type, detail, at_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        ).bind(task_id, event, attempt, kind, detail, now_ms() if at is None else at)


# --- the Workflow design (wrangler.workflow.toml) ---------------------------------------------
class TaskWorkflow(WorkflowEntrypoint):
    """One Workflow instance per task (id = the task id; ``params = {"taskId"}``), used
    when the config binds it as ``TASK_WORKFLOW``: mark processing, one durable
    ``step.do`` per segment with its own retries (3 attempts, delays of n *
    ``RETRY_DELAY_SECONDS``, as the queue's ``max_retries = 2``), save the result, mark it
    completed. A segment step that completed is never run again (a restart, or a retry of
    a later segment, reuses its recorded answer); one that fails its last attempt marks
    the task ``failed`` and fails the instance. D1 keeps the same rows as the queue path,
    so every endpoint answers the same.
    """

    async def run(self, event: Any, step: Any) -> Any:
        task_id = event["payload"]["taskId"]
        worker = Default(self.ctx, self.env)  # the Worker's D1 helpers and [vars]
        retries = {
            "limit": DIRECT_ATTEMPTS - 1,
            "delay": f"{worker.retry_delay_seconds} seconds",
            "backoff": "linear",
        }

        @step.do("mark processing")
        async def mark_processing() -> dict[str, Any] | None:
            return await worker.start_workflow_task(task_id)

        task = await mark_processing()
        if task is None:
            return {"taskId": task_id, "status": "skipped"}  # missing, or already final
        segments = task["segments"]
        answers = []
        try:
            for index, segment in enumerate(segments):
                segment_step = step.do(
                    f"segment {index + 1} of {len(segments)}", config={"retries": retries}
                )(worker.segment_step(task_id, task, index, segment, retries["limit"]))
                answers.append(await segment_step())
        except Exception as exc:  # the last attempt of a segment failed
            failure = f"{type(exc).__name__}: {exc}"

            @step.do("mark failed")
            async def mark_failed() -> None:
                # its last attempt recorded the error; this makes sure the row is final
                at = now_ms()
                await worker._run(
                    "UPDATE tasks SET status = 'failed', error = COALESCE(error, ?), "
                    "updated_ms = ?, completed_ms = COALESCE(completed_ms, ?) "
                    "WHERE id = ? AND status != 'completed'",
                    *(failure, at, at, task_id),
                )

            await mark_failed()
            raise

        @step.do("save result")
        async def save_result() -> int:
            result = combine(answers)
            await worker._run(
                "UPDATE tasks SET result = ?, updated_ms = ? WHERE id = ?",
                *(result, now_ms(), task_id),
            )
            return len(result)

        @step.do("mark completed")
        async def mark_completed() -> None:
            at = now_ms()
            await worker.env.DB.batch(
                [
                    worker.env.DB.prepare(
                        "UPDATE tasks SET status = 'completed', error = NULL, error_type = NULL,"
                        " updated_ms = ?, completed_ms = ? WHERE id = ?"
                    ).bind(at, at, task_id),
                    worker._event(task_id, "completed", at=at),
                ]
            )

        await save_result()
        await mark_completed()
        return {"taskId": task_id, "status": "completed", "segments": len(segments)}


def _ratio(part: int | float, whole: int | float) -> float:
    return round(part / whole, 4) if whole else 0.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --- the demo: `python examples/ai_worker.py` (uses cfemu; never runs on Cloudflare) ----------
SHORT_QUESTIONS = [
    "What is the capital of Australia?",
    "Why is the sky blue?",
    "How do vaccines train the immune system?",
    "What causes the seasons on Earth?",
    "Explain recursion to a ten year old.",
    "What is the difference between weather and climate?",
    "How does a bicycle stay upright?",
    "Why do cats purr?",
]
LONG_TOPICS = [
    ("the history of the printing press", "printing", "movable type", "literacy"),
    ("how message queues make systems resilient", "queues", "retries", "dead letters"),
    ("the water cycle and its role in weather", "evaporation", "condensation", "rainfall"),
    ("the economics of renewable energy", "solar panels", "wind farms", "storage"),
]
LANGUAGES = ["en", "fr", "de", "es", "pt-BR", "ja"]


def long_question(topic: tuple[str, str, str, str], sentences: int) -> str:
    """A long, varied question about ``topic`` (several segments at 400 characters)."""
    title, *terms = topic
    parts = [f"Please write a detailed explanation of {title}."]
    for i in range(sentences):
        term = terms[i % len(terms)]
        parts.append(
            f"In section {i + 1}, discuss {term} in depth, give a concrete example of {term} "
            f"and explain how {term} connects to {title}, including common misconceptions."
        )
    return " ".join(parts)


def demo_tasks(count: int, seed: int) -> list[dict[str, Any]]:
    """A reproducible mix of short and long tasks."""
    import random

    rng = random.Random(seed)
    tasks = []
    for i in range(count):
        if i % 3 == 2:
            question = long_question(rng.choice(LONG_TOPICS), rng.randint(4, 9))
            task_type = "essay"
        else:
            question = rng.choice(SHORT_QUESTIONS)
            task_type = "question"
        tasks.append(
            {
                "taskType": task_type,
                "question": question,
                "language": rng.choice(LANGUAGES),
                "user": {"id": f"user-{rng.randint(1, 5)}", "name": "Demo User"},
            }
        )
    return tasks


class Progress:
    """Live progress: one redrawn line on a terminal, plain lines otherwise."""

    STATES = ("pending", "processing", "retrying", "completed", "failed")

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = ""

    def line(self, counts: dict[str, int]) -> str:
        final = counts["completed"] + counts["failed"]
        detail = ", ".join(f"{state} {counts[state]}" for state in self.STATES)
        if not self.tty:
            return f"progress: {final}/{self.total} final ({detail})"
        import shutil

        width = 20
        filled = round(width * final / self.total) if self.total else width
        text = f"[{'#' * filled}{'.' * (width - filled)}] {final}/{self.total} final | {detail}"
        return text[: max(20, shutil.get_terminal_size().columns - 1)]

    def update(self, counts: dict[str, int]) -> None:
        text = self.line(counts)
        if text == self._last:
            return
        self._last = text
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """Print a line above the live line."""
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + "\n" + self._last)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


async def watch(client: Any, clock: Any, ids: list[str], give_up_after: float) -> bool:
    """Poll every task until each is final (True) or ``give_up_after`` seconds pass (False)."""
    import logging

    progress = Progress(len(ids))

    class QueueLogToProgress(logging.Handler):
        """Shows the queue's dead-letter moves as notes above the live progress line."""

        def emit(self, record: logging.LogRecord) -> None:
            progress.note(f"  queue: {record.getMessage()}")

    queue_log = logging.getLogger("cfemu.queues")
    handler = QueueLogToProgress(logging.WARNING)
    queue_log.addHandler(handler)
    queue_log.propagate = False
    status = {task_id: "pending" for task_id in ids}
    deadline = time.monotonic() + give_up_after
    try:
        while True:
            for task_id in ids:
                if status[task_id] in FINAL_STATES:
                    continue
                info = (await client.get(f"/api/tasks/{task_id}")).json()
                status[task_id] = info["status"]
                if info["status"] in FINAL_STATES:
                    outcome = info["status"]
                    if outcome == "failed":
                        outcome += f" ({info.get('error', '')[:70]})"
                    progress.note(
                        f"  task {task_id[:8]} {outcome} after {info['attempts']} "
                        f"attempt(s), {info['segments']['total']} segment(s)"
                    )
            counts = dict.fromkeys(Progress.STATES, 0)
            for value in status.values():
                counts[value] = counts.get(value, 0) + 1
            progress.update(counts)
            if counts["completed"] + counts["failed"] == len(ids):
                return True
            if time.monotonic() > deadline:
                return False
            await clock.sleep(0.05)
    finally:
        progress.close()
        queue_log.removeHandler(handler)
        queue_log.propagate = True


async def run_demo(args: Any) -> int:
    """Start the emulator on wrangler.toml, submit tasks, watch them, print a summary."""
    from cfemu.ai import AiSettings
    from cfemu.emulator import Emulator

    started = time.perf_counter()
    ai = AiSettings(seed=args.seed, fail_rate=args.fail_rate, latency_seconds=args.latency)
    emulator = Emulator.from_config(args.config, persist_to=args.persist_to, ai=ai)
    async with emulator:
        applied = await emulator.apply_migrations("DB")
        print(f"cfemu: {args.config.name} loaded; migrations applied: {applied or 'none pending'}")
        design = (
            f"Workflow TASK_WORKFLOW, {DIRECT_ATTEMPTS} attempts per segment step"
            if "TASK_WORKFLOW" in emulator.env
            else f"queue max_retries=2 -> {DEAD_LETTER_QUEUE}"
        )
        print(
            f"cfemu: local AI model (deterministic stand-in), fail rate {args.fail_rate:g}, "
            f"seed {args.seed}; {design}"
        )
        async with emulator.client() as client:
            ids: list[str] = []
            for task in demo_tasks(args.tasks, args.seed):
                response = await client.post("/api/tasks", json=task)
                if response.status_code != 202:
                    print(f"submit failed: {response.status_code} {response.text}")
                    return 1
                ids.append(response.json()["taskId"])
            print(f"submitted {len(ids)} tasks; polling GET /api/tasks/<id> ...")
            if not await watch(client, emulator.clock, ids, args.timeout):
                print(f"timed out after {args.timeout:g}s with tasks still running")
                return 1
            report = (await client.get("/api/queue-status")).json()
    elapsed = time.perf_counter() - started
    tasks = report["tasks"]
    average = report["averageProcessingMs"]
    print(f"\nSummary ({len(ids)} tasks in {elapsed:.1f}s)")
    if tasks["total"] != len(ids):
        print(
            f"  (figures cover all {tasks['total']} tasks in {args.persist_to}, earlier runs too)"
        )
    print(f"  completed:           {tasks['completed']}")
    print(f"  failed:              {tasks['failed']}")
    print(f"  retries:             {report['retries']}")
    print(f"  dead-lettered (DLQ): {report['deadLettered']}")
    print(f"  fallbacks:           {report['fallbacks']}")
    print(f"  avg processing time: {'n/a' if average is None else f'{average:.1f} ms'}")
    print("\nGET /api/queue-status:")
    print(json.dumps(report, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The demo's command line; returns the exit code (0: every task reached a final state)."""
    import argparse
    import asyncio
    from pathlib import Path

    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(
        description="Run the AI task pipeline locally on cfemu: submit tasks, watch them "
        "through the queue, retries and the dead-letter queue, print a summary."
    )
    parser.add_argument("--tasks", type=int, default=12, help="tasks to submit (%(default)s)")
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.3,
        help="share of AI calls that fail, to exercise retries and the DLQ (%(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=2, help="seed of the tasks and failures (%(default)s)"
    )
    parser.add_argument(
        "--latency", type=float, default=0.01, help="local AI latency in seconds (%(default)s)"
    )
    parser.add_argument(
        "--config", type=Path, default=here.parent / "wrangler.toml", help="wrangler config"
    )
    parser.add_argument("--persist-to", type=Path, help="keep D1 and queue state in this folder")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after (seconds)")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="serve the Worker on http://127.0.0.1:8787 instead (same as `cfemu dev`)",
    )
    args = parser.parse_args(argv)
    if args.tasks < 1:
        parser.error("--tasks must be at least 1")
    if not 0.0 <= args.fail_rate <= 1.0:
        parser.error("--fail-rate must be between 0 and 1")
    if args.serve:
        # `cfemu dev` keeps state in <config folder>/.cfemu/state unless told otherwise;
        # apply the migrations there first so the served Worker finds its tables.
        from cfemu.cli import main as cfemu_main

        persist_to = args.persist_to or args.config.resolve().parent / ".cfemu" / "state"
        asyncio.run(apply_migrations(args.config, persist_to))
        return cfemu_main(["dev", "-c", str(args.config), "--persist-to", str(persist_to)])
    try:
        return asyncio.run(run_demo(args))
    except KeyboardInterrupt:  # Ctrl-C: the emulator has shut down; no traceback
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more
        import os  # the recipe of Python's signal docs: no flush error at exit

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


async def apply_migrations(config: Any, persist_to: Any) -> None:
    """Apply the D1 migrations to the persisted database ``cfemu dev`` will serve."""
    from cfemu.emulator import Emulator

    async with Emulator.from_config(config, persist_to=persist_to) as emulator:
        applied = await emulator.apply_migrations("DB")
        print(f"cfemu: migrations applied in {persist_to}: {applied or 'none pending'}")


if __name__ == "__main__":
    sys.exit(main())
