"""Stateful property test: the broker against a small reference model of the semantics.

Hypothesis drives random sends (single and batched, with delays), handler plans (ack, retry,
retry with a delay, ackAll, retryAll, raising after some calls, mixed, virtual work time) and
clock moves, over random consumer configurations (batch size and timeout, retries, retry
delay, concurrency, a dead-letter queue with or without its own consumer).

The model does not predict how messages are grouped into batches (that is checked by bounds:
size, concurrency, due times); for every batch the broker hands out it checks the delivery
(right queue, attempt number, not early, not already in flight, not finished) and resolves the
handler's calls with the spec's table (queues.md §4.3-§4.4), independently of the broker's
code. After every step: no message lost or invented, per-queue counters equal, attempts within
``max_retries + 1``, the expected warnings logged. At the end everything is acked, dropped or
waiting in a dead-letter queue without consumer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from cfemu.queues import Broker, ConsumerSettings, MessageBatch
from tests.queues.harness import Harness

MAIN = "main"
DLQ = "dead"
EPS = 1e-9

# --- plans: what a handler does with one batch ------------------------------------------------
delays = st.one_of(st.none(), st.integers(0, 3))
message_action = st.one_of(
    st.none(),
    st.just(("ack",)),
    st.tuples(st.just("retry"), delays),
    st.tuples(st.just("ack"), st.just("retry"), delays),  # ack then retry
    st.tuples(st.just("retry"), delays, st.just("ack")),  # retry then ack
)
batch_action = st.one_of(
    st.none(),
    st.just(("ackAll",)),
    st.tuples(st.just("retryAll"), delays),
    st.tuples(st.just("ackAll"), st.just("retryAll"), delays),
    st.tuples(st.just("retryAll"), delays, st.just("ackAll")),
)


@dataclass(frozen=True)
class Plan:
    per_message: tuple[Any, ...]
    batch: Any
    batch_first: bool
    raise_after: int | None  # raise after this many per-message actions
    work: int  # virtual seconds of work before deciding


plans = st.builds(
    Plan,
    per_message=st.lists(message_action, max_size=4).map(tuple),
    batch=batch_action,
    batch_first=st.booleans(),
    raise_after=st.one_of(st.none(), st.integers(0, 3)),
    work=st.sampled_from([0, 0, 0, 1, 2]),
)
DEFAULT_PLAN = Plan((), None, False, None, 0)

consumer_settings = st.builds(
    ConsumerSettings,
    max_batch_size=st.integers(1, 4),
    max_batch_timeout=st.sampled_from([0.0, 1.0, 2.5]),
    max_retries=st.integers(0, 3),
    max_concurrency=st.sampled_from([None, 1, 2, 3]),
    retry_delay=st.sampled_from([0, 0, 2]),
)


class HandlerFailedError(Exception):
    pass


# --- the reference model ---------------------------------------------------------------------
@dataclass
class ModelMessage:
    body: int  # unique: the model's key
    queue: str
    id: str | None = None  # learnt at the first delivery, then must never change
    deliveries: int = 0  # in the current queue
    eligible_at: float = 0.0
    status: str = "pending"  # pending | acked | dropped
    in_flight: bool = False


@dataclass
class ModelQueue:
    settings: ConsumerSettings | None
    dlq: str | None
    counters: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("sent", "moved_in", "delivered", "acked", "retried", "dead_lettered", "dropped"), 0
        )
    )
    batches: int = 0
    active: int = 0


Call = tuple[str, int | None, int | None]  # (kind, message index, delay)


def resolve(calls: list[Call], raised: bool, n: int) -> tuple[list[tuple[str, int | None]], int]:
    """The spec's precedence table, as a fold over the calls in order.

    Returns per message ``("ack", None)`` or ``("retry", delay or None)``, where a retry's
    delay already applies retryAll's over the consumer default, and the number of warnings.
    """
    own: dict[int, tuple[str, int | None]] = {}
    ack_all = retry_all = False
    all_delay: int | None = None
    warnings = 0
    for kind, index, delay in calls:
        if kind == "ack":
            assert index is not None
            if ack_all:
                continue  # silent
            if retry_all or own.get(index, ("",))[0] == "retry":
                warnings += 1
                continue
            own[index] = ("ack", None)
        elif kind == "retry":
            assert index is not None
            if ack_all or own.get(index, ("",))[0] == "ack":
                warnings += 1
                continue
            own[index] = ("retry", delay)  # a repeated retry() replaces the options
        elif kind == "ackAll":
            if retry_all:
                warnings += 1
                continue
            ack_all = True
        elif kind == "retryAll":
            if ack_all:
                warnings += 1
                continue
            retry_all = True
            if delay is not None:
                all_delay = delay
    out: list[tuple[str, int | None]] = []
    for i in range(n):
        verdict, delay = own.get(i, ("", None))
        if verdict == "ack" or (not verdict and (ack_all or not (retry_all or raised))):
            out.append(("ack", None))
        else:
            out.append(("retry", delay if delay is not None else all_delay if retry_all else None))
    return out, warnings


class WarningCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Received a call to"):
            self.count += 1


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.logger = logging.getLogger(f"cfemu.queues.model.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.WARNING)
        self.warnings = WarningCounter()
        self.logger.addHandler(self.warnings)
        self.h = Harness(logger=self.logger)
        self.messages: dict[int, ModelMessage] = {}
        self.queues: dict[str, ModelQueue] = {}
        self.plans: list[Plan] = []
        self.expected_warnings = 0
        self.errors: list[str] = []
        self.next_body = 0
        self.delivery_delay = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.h.drain())
            self.check_all()
            for msg in self.messages.values():
                waiting = msg.queue == DLQ and self.queues[DLQ].settings is None
                assert msg.status in ("acked", "dropped") or (
                    waiting and msg.status == "pending"
                ), msg
        finally:
            self.run(self.h.broker.aclose())
            self.run(self.h.tracker.aclose())
            self.loop.close()
            self.logger.removeHandler(self.warnings)

    # --- setup -------------------------------------------------------------------------------
    @initialize(
        main=consumer_settings,
        dlq_mode=st.sampled_from(["none", "no-consumer", "consumer"]),
        dlq_settings=consumer_settings,
        delivery_delay=st.sampled_from([0, 0, 3]),
    )
    def configure(
        self,
        main: ConsumerSettings,
        dlq_mode: str,
        dlq_settings: ConsumerSettings,
        delivery_delay: int,
    ) -> None:
        dlq = None if dlq_mode == "none" else DLQ
        main = ConsumerSettings(
            max_batch_size=main.max_batch_size,
            max_batch_timeout=main.max_batch_timeout,
            max_retries=main.max_retries,
            max_concurrency=main.max_concurrency,
            retry_delay=main.retry_delay,
            dead_letter_queue=dlq,
        )
        self.queues[MAIN] = ModelQueue(main, dlq)
        self.h.broker.set_consumer(MAIN, main, self.handler)
        if dlq_mode == "consumer":
            self.queues[DLQ] = ModelQueue(dlq_settings, None)
            self.h.broker.set_consumer(DLQ, dlq_settings, self.handler)
        elif dlq_mode == "no-consumer":
            self.queues[DLQ] = ModelQueue(None, None)
        self.delivery_delay = delivery_delay
        self.producer = self.h.broker.producer(MAIN, delivery_delay=delivery_delay)

    # --- the instrumented consumer -------------------------------------------------------------
    async def handler(self, batch: MessageBatch) -> None:
        h = self.h
        now = h.clock.now()
        queue = self.queues[batch.queue]
        assert queue.settings is not None
        if not 1 <= len(batch.messages) <= queue.settings.max_batch_size:
            self.errors.append(f"batch of {len(batch.messages)} on {batch.queue}")
        queue.active += 1
        queue.batches += 1
        if queue.active > queue.settings.effective_max_concurrency:
            self.errors.append(f"{queue.active} batches in flight on {batch.queue}")
        for m in batch.messages:
            model = self.messages.get(m.body)
            if model is None:
                self.errors.append(f"invented message {m.body!r}")
                continue
            if model.id is None:
                model.id = m.id
            elif model.id != m.id:
                self.errors.append(f"id changed from {model.id} to {m.id}")
            if model.status != "pending" or model.queue != batch.queue or model.in_flight:
                self.errors.append(f"bad delivery of {model} on {batch.queue}")
            if m.attempts != model.deliveries + 1:
                self.errors.append(f"attempts {m.attempts} for {model}")
            if now + EPS < model.eligible_at:
                self.errors.append(f"early delivery at {now} of {model}")
            if m.body != model.body:
                self.errors.append(f"body {m.body!r} for {model}")
            model.in_flight = True
            model.deliveries += 1
            queue.counters["delivered"] += 1

        plan = self.plans.pop(0) if self.plans else DEFAULT_PLAN
        calls: list[Call] = []
        raised = False
        try:
            if plan.work:
                await h.clock.sleep(plan.work)
            if plan.batch_first:
                self.batch_calls(batch, plan.batch, calls)
            for index, action in enumerate(plan.per_message[: len(batch.messages)]):
                if plan.raise_after is not None and index >= plan.raise_after:
                    break
                self.message_calls(batch, index, action, calls)
            if plan.raise_after is not None:
                raised = True
                raise HandlerFailedError
            if not plan.batch_first:
                self.batch_calls(batch, plan.batch, calls)
        finally:
            self.settle_model(batch, queue, calls, raised, h.clock.now())
            queue.active -= 1

    def batch_calls(self, batch: MessageBatch, action: Any, calls: list[Call]) -> None:
        if action is None:
            return
        items = list(action)
        while items:
            kind = items.pop(0)
            if kind == "ackAll":
                batch.ackAll()
                calls.append(("ackAll", None, None))
            else:
                delay = items.pop(0)
                batch.retryAll(delaySeconds=delay)
                calls.append(("retryAll", None, delay))

    def message_calls(
        self, batch: MessageBatch, index: int, action: Any, calls: list[Call]
    ) -> None:
        if action is None:
            return
        msg = batch.messages[index]
        items = list(action)
        while items:
            kind = items.pop(0)
            if kind == "ack":
                msg.ack()
                calls.append(("ack", index, None))
            else:
                delay = items.pop(0)
                msg.retry(delaySeconds=delay)
                calls.append(("retry", index, delay))

    def settle_model(
        self, batch: MessageBatch, queue: ModelQueue, calls: list[Call], raised: bool, now: float
    ) -> None:
        assert queue.settings is not None
        outcomes, warnings = resolve(calls, raised, len(batch.messages))
        self.expected_warnings += warnings
        for m, (verdict, delay) in zip(batch.messages, outcomes, strict=True):
            model = self.messages.get(m.body)
            if model is None:
                continue
            model.in_flight = False
            if verdict == "ack":
                model.status = "acked"
                queue.counters["acked"] += 1
            elif model.deliveries >= queue.settings.max_retries + 1:
                if queue.dlq is not None:
                    queue.counters["dead_lettered"] += 1
                    self.queues[queue.dlq].counters["moved_in"] += 1
                    model.queue = queue.dlq
                    model.deliveries = 0
                    model.eligible_at = now
                else:
                    queue.counters["dropped"] += 1
                    model.status = "dropped"
            else:
                queue.counters["retried"] += 1
                model.eligible_at = now + (queue.settings.retry_delay if delay is None else delay)

    # --- rules ---------------------------------------------------------------------------------
    @rule(delay=delays)
    def send(self, delay: int | None) -> None:
        body = self.next_body
        self.next_body += 1
        self.expect_sent([body], [delay], None)
        self.run(self.producer.send(body, delaySeconds=delay))
        self.run(self.h.run_tasks())

    @rule(
        per_message=st.lists(delays, min_size=1, max_size=6),
        batch_delay=delays,
    )
    def send_batch(self, per_message: list[int | None], batch_delay: int | None) -> None:
        bodies = list(range(self.next_body, self.next_body + len(per_message)))
        self.next_body += len(bodies)
        items = [
            {"body": b} if d is None else {"body": b, "delaySeconds": d}
            for b, d in zip(bodies, per_message, strict=True)
        ]
        self.expect_sent(bodies, per_message, batch_delay)
        self.run(self.producer.sendBatch(items, delaySeconds=batch_delay))
        self.run(self.h.run_tasks())

    def expect_sent(
        self, bodies: list[int], delays_: list[int | None], batch_delay: int | None
    ) -> None:
        """Send delay: per message > sendBatch option > producer delivery_delay."""
        now = self.h.clock.now()
        for body, delay in zip(bodies, delays_, strict=True):
            resolved = delay if delay is not None else batch_delay
            if resolved is None:
                resolved = self.delivery_delay
            self.messages[body] = ModelMessage(body, MAIN, eligible_at=now + resolved)
        self.queues[MAIN].counters["sent"] += len(bodies)

    @rule(new=st.lists(plans, min_size=1, max_size=4))
    def add_plans(self, new: list[Plan]) -> None:
        self.plans.extend(new)

    @rule(seconds=st.sampled_from([0.5, 1, 2, 3, 7]))
    def advance(self, seconds: float) -> None:
        self.run(self.h.advance(seconds))

    @precondition(lambda self: self.messages)
    @rule()
    def drain(self) -> None:
        self.run(self.h.drain())
        assert self.h.broker.is_settled()

    # --- invariants ------------------------------------------------------------------------------
    def live_bodies(self, queue: str) -> list[int]:
        view = self.h.broker.queues.get(queue)
        return [] if view is None else [m.body for m in view.messages()]

    @invariant()
    def check_all(self) -> None:
        if not self.queues:
            return
        assert not self.errors, self.errors
        for name, queue in self.queues.items():
            live = self.live_bodies(name)
            assert len(live) == len(set(live)), f"duplicate message on {name}"
            expected = {
                m.body for m in self.messages.values() if m.queue == name and m.status == "pending"
            }
            assert set(live) == expected, (
                f"{name}: broker {sorted(live)} != model {sorted(expected)}"
            )
            stats = self.h.broker.queues[name].stats()
            got = {key: getattr(stats, key) for key in queue.counters}
            assert got == queue.counters, f"{name}: {got} != {queue.counters}"
            assert stats.batches == queue.batches
            assert stats.backlog == len(expected)
            assert stats.depth + stats.delayed + stats.in_flight == stats.backlog
            if queue.settings is not None:
                limit = queue.settings.max_retries + 1
                assert all(m.attempts <= limit for m in self.h.broker.queues[name].messages())
        assert self.warnings.count == self.expected_warnings


QueueMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("CFEMU_MODEL_EXAMPLES", "100")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    # The explain phase traces every line: far too slow for this machine's steps.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
TestQueueModel = QueueMachine.TestCase


class PersistedQueueMachine(QueueMachine):
    """The same model against the SQLite store: its sends join the queue in their commit, its
    leases are awaited before the handler runs; the semantics must not change."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        h = self.h
        h.broker = Broker(
            h.clock, h.tracker, h.faults, self.logger, store_path=Path(self.folder.name) / "q"
        )

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self.folder.cleanup()


PersistedQueueMachine.TestCase.settings = settings(
    QueueMachine.TestCase.settings,
    max_examples=int(os.environ.get("CFEMU_MODEL_EXAMPLES_PERSISTED", "25")),
)
TestPersistedQueueModel = PersistedQueueMachine.TestCase
