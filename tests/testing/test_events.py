"""vitest-plugin helpers: execution contexts, message batches, queue results, controllers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from cfemu import Emulator, ExecutionContext, MessageBatch, QueueTypeError, ScheduledController
from cfemu.clock import VirtualClock
from cfemu.testing import (
    QueueResult,
    create_execution_context,
    create_message_batch,
    create_scheduled_controller,
    get_queue_result,
    wait_on_execution_context,
)

pytestmark = [pytest.mark.anyio, pytest.mark.cfemu_config("project/wrangler.toml")]


# --- execution context -----------------------------------------------------------------------
async def test_wait_on_execution_context_waits_for_nested_wait_until_work() -> None:
    ctx = create_execution_context()
    done: list[str] = []

    async def inner() -> None:
        await asyncio.sleep(0)
        done.append("inner")

    async def outer() -> None:
        await asyncio.sleep(0)
        ctx.waitUntil(inner())  # started while the test already waits
        done.append("outer")

    ctx.waitUntil(outer())
    assert done == []
    await wait_on_execution_context(ctx)
    assert done == ["outer", "inner"]
    assert ctx.pending == 0


async def test_wait_on_execution_context_raises_the_one_failure() -> None:
    ctx = create_execution_context()

    async def boom() -> None:
        raise ValueError("nope")

    async def fine() -> None:
        return None

    ctx.waitUntil(boom())
    ctx.waitUntil(fine())
    with pytest.raises(ValueError, match="nope"):
        await wait_on_execution_context(ctx)


async def test_wait_on_execution_context_groups_several_failures() -> None:
    ctx = create_execution_context()

    async def boom(n: int) -> None:
        raise ValueError(f"nope {n}")

    ctx.waitUntil(boom(1))
    ctx.waitUntil(boom(2))
    with pytest.raises(ExceptionGroup) as info:
        await wait_on_execution_context(ctx)
    assert sorted(str(e) for e in info.value.exceptions) == ["nope 1", "nope 2"]


async def test_wait_on_execution_context_rejects_what_is_not_a_context() -> None:
    with pytest.raises(TypeError, match="create_execution_context"):
        await wait_on_execution_context(object())  # type: ignore[arg-type]


async def test_context_made_with_an_emulator_is_tracked_by_drain(emulator: Emulator) -> None:
    ctx = create_execution_context(emulator)
    ran: list[float] = []

    async def later() -> None:
        await emulator.clock.sleep(90)  # virtual time: drain() moves the clock
        ran.append(emulator.clock.now())

    start = emulator.clock.now()
    ctx.waitUntil(later())
    await emulator.drain()
    assert ran == [start + 90]


# --- message batches and queue results -------------------------------------------------------
def test_create_message_batch_fills_defaults_from_the_clock() -> None:
    clock = VirtualClock(start=1_800_000_000)
    batch = create_message_batch("jobs", [{"body": {"job": "a"}}], clock=clock)
    assert isinstance(batch, MessageBatch) and batch.queue == "jobs"
    (msg,) = batch.messages
    assert len(msg.id) == 32 and int(msg.id, 16) >= 0
    assert msg.attempts == 1
    assert msg.timestamp == datetime.fromtimestamp(1_800_000_000, UTC)
    assert msg.body == {"job": "a"}


def test_create_message_batch_keeps_given_fields_and_copies_bodies() -> None:
    body: dict[str, Any] = {"items": [1, 2]}
    when = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    batch = create_message_batch(
        "q",
        [
            {"id": "m1", "timestamp": when, "body": body, "attempts": 3},
            {"id": 7, "timestamp": 1_000, "body": b"raw", "contentType": "bytes"},
        ],
    )
    body["items"].append(3)  # the batch holds a copy, as vitest's structured clone does
    first, second = batch.messages
    assert (first.id, first.timestamp, first.attempts) == ("m1", when, 3)
    assert first.body == {"items": [1, 2]}
    assert (second.id, second.body) == ("7", b"raw")
    assert second.timestamp == datetime.fromtimestamp(1, UTC)


def test_create_message_batch_checks_its_input() -> None:
    with pytest.raises(TypeError, match="'body'"):
        create_message_batch("q", [{"id": "x"}])
    with pytest.raises(TypeError, match="list of messages"):
        create_message_batch("q", {"body": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="attempts"):
        create_message_batch("q", [{"body": 1, "attempts": 0}])
    with pytest.raises(TypeError, match="timestamp"):
        create_message_batch("q", [{"body": 1, "timestamp": "yesterday"}])
    with pytest.raises(QueueTypeError, match='Content Type "text"'):
        create_message_batch("q", [{"body": 1, "contentType": "text"}])


async def test_get_queue_result_reports_explicit_and_batch_wide_decisions() -> None:
    batch = create_message_batch("q", [{"id": str(i), "body": i} for i in range(4)])
    batch.messages[0].ack()
    batch.messages[1].retry(delaySeconds=30)
    batch.messages[2].retry()
    batch.retryAll(delaySeconds=5)
    result = await get_queue_result(batch, create_execution_context())
    assert result == QueueResult(
        outcome="ok",
        ack_all=False,
        retry_batch={"retry": True, "delaySeconds": 5},
        explicit_acks=["0"],
        retry_messages=[{"msgId": "1", "delaySeconds": 30}, {"msgId": "2"}],
    )
    assert result.retry_batch.retry is True  # JsDict: attribute access too


async def test_get_queue_result_of_an_untouched_batch_is_empty() -> None:
    batch = create_message_batch("q", [{"body": 1}])
    result = await get_queue_result(batch)
    assert (result.outcome, result.ack_all, result.retry_batch) == ("ok", False, {"retry": False})
    assert result.explicit_acks == [] and result.retry_messages == []


async def test_get_queue_result_waits_for_wait_until_and_reports_its_failure() -> None:
    ctx = create_execution_context()
    batch = create_message_batch("q", [{"id": "a", "body": 1}])

    async def ack_later() -> None:
        await asyncio.sleep(0)
        batch.messages[0].ack()
        raise RuntimeError("after the ack")

    ctx.waitUntil(ack_later())
    result = await get_queue_result(batch, ctx)
    assert result.outcome == "exception"
    assert isinstance(result.error, RuntimeError)
    assert result.explicit_acks == ["a"]


async def test_get_queue_result_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="create_message_batch"):
        await get_queue_result([], create_execution_context())  # type: ignore[arg-type]
    batch = create_message_batch("q", [{"body": 1}])
    with pytest.raises(TypeError, match="create_execution_context"):
        await get_queue_result(batch, "ctx")  # type: ignore[arg-type]


async def test_a_workers_queue_handler_called_directly(emulator: Emulator) -> None:
    ctx = create_execution_context(emulator)
    batch = create_message_batch(
        "jobs",
        [{"id": "ok", "body": {"job": "pay"}}, {"id": "bad", "body": {"job": "poison-1"}}],
        clock=emulator.clock,
    )
    await emulator.worker.entrypoint(ctx, emulator.env).queue(batch)
    result = await get_queue_result(batch, ctx)
    assert result.explicit_acks == ["ok"]
    assert result.retry_messages == [{"msgId": "bad"}]
    rows = await emulator.env.DB.prepare("SELECT job, sent_at FROM done").all()
    assert [dict(r) for r in rows["results"]] == [
        {"job": "pay", "sent_at": emulator.clock.now_ms()}
    ]


async def test_a_batch_through_the_worker_and_a_raising_handler(emulator: Emulator) -> None:
    batch = create_message_batch(
        "jobs", [{"id": "a", "body": {"job": "x"}}, {"id": "b", "body": {"nojob": 1}}]
    )
    with pytest.raises(KeyError, match="job"):
        await emulator.worker.queue(batch)
    result = await get_queue_result(batch)
    assert result.explicit_acks == ["a"]  # decided before the handler raised


# --- scheduled controllers -------------------------------------------------------------------
def test_create_scheduled_controller_defaults_to_the_clock() -> None:
    clock = VirtualClock(start=1_900_000_000.5)
    controller = create_scheduled_controller(cron="0 * * * *", clock=clock)
    assert isinstance(controller, ScheduledController)
    assert (controller.cron, controller.scheduledTime) == ("0 * * * *", 1_900_000_000_500)
    assert controller.type == "scheduled"


def test_create_scheduled_controller_accepts_datetime_and_milliseconds() -> None:
    when = datetime(2026, 3, 1, tzinfo=UTC)
    assert create_scheduled_controller(scheduled_time=when).scheduledTime == int(
        when.timestamp() * 1000
    )
    controller = create_scheduled_controller(scheduled_time=42)
    assert (controller.cron, controller.scheduledTime) == ("", 42)
    with pytest.raises(TypeError, match="milliseconds"):
        create_scheduled_controller(scheduled_time="now")  # type: ignore[arg-type]


async def test_a_workers_scheduled_handler_called_directly(emulator: Emulator) -> None:
    ctx = create_execution_context(emulator)
    controller = create_scheduled_controller(cron="*/5 * * * *", clock=emulator.clock)
    await emulator.worker.entrypoint(ctx, emulator.env).scheduled(controller)
    await wait_on_execution_context(ctx)
    row = await emulator.env.DB.prepare("SELECT * FROM ticks").first()
    assert dict(row) == {"cron": "*/5 * * * *", "scheduled_time": emulator.clock.now_ms()}


def test_contexts_are_the_runtimes_own() -> None:
    assert isinstance(create_execution_context(), ExecutionContext)
