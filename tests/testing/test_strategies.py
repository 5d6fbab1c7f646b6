"""cfemu.testing.strategies: bodies, consumer configs, handler plans, planned handlers."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu import limits
from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.config.models import QueueConsumerConfig
from cfemu.queues import Broker, ConsumerSettings, MessageBatch
from cfemu.testing import create_message_batch, get_queue_result
from cfemu.testing.strategies import (
    CONTENT_TYPES,
    HandlerPlan,
    PlannedError,
    Step,
    consumer_settings,
    handler_plans,
    make_handler,
    message_bodies,
    queue_names,
    send_requests,
    typed_bodies,
    wrangler_consumers,
)

FAST = settings(max_examples=40, deadline=None)


async def drain(clock: VirtualClock, tracker: TaskTracker) -> None:
    while True:
        await tracker.wait_idle()
        if not clock.fire_next():
            return


def run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


@FAST
@given(typed=typed_bodies())
def test_bodies_reach_a_consumer_equal(typed: tuple[str, Any]) -> None:
    content_type, body = typed

    async def scenario() -> list[Any]:
        clock, tracker = VirtualClock(), TaskTracker()
        broker = Broker(clock, tracker)
        got: list[Any] = []

        async def consumer(batch: MessageBatch) -> None:
            got.extend(msg.body for msg in batch.messages)

        broker.set_consumer("q", ConsumerSettings(max_batch_timeout=0), consumer)
        await broker.producer("q").send(body, contentType=content_type)
        await drain(clock, tracker)
        return got

    assert run(scenario()) == [body]


@FAST
@given(entries=st.lists(send_requests(), min_size=1, max_size=5))
def test_send_requests_are_accepted_by_send_batch(entries: list[dict[str, Any]]) -> None:
    async def scenario() -> int:
        broker = Broker(VirtualClock(), TaskTracker())
        await broker.producer("q").sendBatch(entries)
        return broker.queues["q"].stats().backlog

    assert run(scenario()) == len(entries)
    assert all(e["contentType"] in CONTENT_TYPES for e in entries)


def test_message_bodies_rejects_unknown_types() -> None:
    with pytest.raises(ValueError, match="unknown content type"):
        message_bodies("xml")


@FAST
@given(body=message_bodies(st.sampled_from(["text", "bytes"])))
def test_message_bodies_accepts_a_strategy_of_types(body: Any) -> None:
    assert isinstance(body, str | bytes)


@FAST
@given(name=queue_names())
def test_queue_names_are_valid(name: str) -> None:
    assert QueueConsumerConfig(queue=name).queue == name


@FAST
@given(s=consumer_settings())
def test_consumer_settings_stay_within_cloudflares_limits(s: ConsumerSettings) -> None:
    assert limits.MIN_MAX_BATCH_SIZE <= s.max_batch_size <= limits.MAX_MAX_BATCH_SIZE
    assert limits.MIN_MAX_BATCH_TIMEOUT <= s.max_batch_timeout <= limits.MAX_MAX_BATCH_TIMEOUT
    assert limits.MIN_MAX_RETRIES <= s.max_retries <= limits.MAX_MAX_RETRIES
    assert 0 <= s.retry_delay <= limits.MAX_DELAY_SECONDS


@FAST
@given(s=consumer_settings(max_retries=0, dead_letter_queue=st.just("dead")))
def test_consumer_settings_overrides_take_values_and_strategies(s: ConsumerSettings) -> None:
    assert (s.max_retries, s.dead_letter_queue) == (0, "dead")


@FAST
@given(entry=wrangler_consumers(queue=queue_names()))
def test_wrangler_consumers_validate_as_wrangler_config(entry: dict[str, Any]) -> None:
    config = QueueConsumerConfig.model_validate(entry)
    assert config.queue == entry["queue"]
    assert config.max_retries == entry.get("max_retries", limits.DEFAULT_MAX_RETRIES)
    assert config.dead_letter_queue == entry.get("dead_letter_queue")


def test_plan_steps_and_expected_outcomes() -> None:
    plan = HandlerPlan(steps=((Step("retry", 5), Step("retry"), Step("none")), (Step("ack"),)))
    assert plan.step(0, 2) == Step("retry") and plan.step(0, 9) == Step("ack")
    assert plan.step(7, 1) == Step("ack")  # messages past the plan: the default
    assert plan.independent
    assert plan.expected(0, max_retries=3) == ("acked", 3)
    assert plan.expected(0, max_retries=1) == ("failed", 2)
    assert plan.expected(1, max_retries=0) == ("acked", 1)
    raising = HandlerPlan(steps=((Step("raise"),),))
    assert not raising.independent
    with pytest.raises(ValueError, match="independent"):
        raising.expected(0, 3)
    assert not HandlerPlan(steps=(), batch_call="ackAll").independent


@FAST
@given(
    plan=handler_plans(messages=6, independent=True),
    s=consumer_settings(max_retries=st.integers(0, 4)),
)
def test_independent_plans_predict_what_the_broker_does(
    plan: HandlerPlan, s: ConsumerSettings
) -> None:
    async def scenario() -> tuple[Broker, Any]:
        clock, tracker = VirtualClock(), TaskTracker()
        broker = Broker(clock, tracker)
        seen: list[int] = []
        handler = make_handler(plan, process=lambda msg: seen.append(msg.body["i"]))
        broker.set_consumer("q", s, handler)
        if s.dead_letter_queue:
            broker.set_consumer(
                s.dead_letter_queue, ConsumerSettings(), make_handler(HandlerPlan(()))
            )
        await broker.producer("q").sendBatch([{"body": {"i": i}} for i in range(6)])
        await drain(clock, tracker)
        assert sorted(seen) == sorted(i for i, _, _ in handler.calls)
        return broker, handler

    broker, handler = run(scenario())
    failed = 0
    for i in range(6):
        fate, attempts = plan.expected(i, s.max_retries)
        assert handler.attempts_of(i) == list(range(1, attempts + 1))
        failed += fate == "failed"
    stats = broker.queues["q"].stats()
    assert stats.acked == 6 - failed
    if s.dead_letter_queue:
        assert (stats.dead_lettered, stats.dropped) == (failed, 0)
    else:
        assert (stats.dead_lettered, stats.dropped) == (0, failed)


@FAST
@given(plan=handler_plans(messages=4))
def test_planned_handlers_follow_their_plan_on_a_batch(plan: HandlerPlan) -> None:
    batch = create_message_batch("q", [{"id": str(i), "body": i} for i in range(4)])
    handler = make_handler(plan)
    raised = False
    try:
        run(handler(batch))
    except PlannedError:
        raised = True
    actions = [a for _, _, a in handler.calls]
    assert raised == ("raise" in actions)
    assert actions == [plan.step(i, 1).action for i in range(len(actions))]
    result = run(get_queue_result(batch))
    acked = [str(i) for i, _, a in handler.calls if a == "ack"]
    assert result.explicit_acks == acked
    if not raised:
        assert result.ack_all == (plan.batch_call == "ackAll")
        assert result.retry_batch["retry"] == (plan.batch_call == "retryAll")


def test_make_handler_needs_a_key_for_other_bodies() -> None:
    batch = create_message_batch("q", [{"body": "text"}])
    with pytest.raises(TypeError, match="key="):
        run(make_handler(HandlerPlan(()))(batch))
    handler = make_handler(HandlerPlan(((Step("retry", 7),),)), key=lambda msg: 0)
    run(handler(batch))
    assert run(get_queue_result(batch)).retry_messages[0]["delaySeconds"] == 7


def test_importing_cfemu_does_not_import_hypothesis() -> None:
    code = (
        "import sys, cfemu, cfemu.testing, cfemu.testing.plugin\nprint('hypothesis' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
