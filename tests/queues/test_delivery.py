"""Delivery semantics: batching, outcomes, precedence, retries, dead letters, concurrency."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest

from cfemu._faults import FaultRule
from cfemu.errors import QueueError
from cfemu.queues import ConsumerSettings, MessageBatch
from tests.queues.harness import Harness, Recorder

pytestmark = pytest.mark.anyio


class BoomError(Exception):
    pass


async def send_all(h: Harness, bodies: list[object], queue: str = "q") -> None:
    await h.broker.producer(queue).sendBatch([{"body": b} for b in bodies])


# --- batch formation ---------------------------------------------------------------------------
async def test_full_batch_goes_out_at_once_and_the_rest_after_the_timeout(h: Harness) -> None:
    rec = Recorder(h)
    h.consume("q", rec, max_batch_size=3, max_batch_timeout=5)
    await send_all(h, list(range(4)))
    await h.run_tasks()
    assert rec.batches == [[(0, 1), (1, 1), (2, 1)]]
    await h.advance(4.9)
    assert len(rec.batches) == 1
    await h.advance(0.1)
    assert rec.batches[1] == [(3, 1)]
    assert rec.times == [h.clock.now() - 5, h.clock.now()]


async def test_batch_timeout_runs_from_the_first_ready_message(h: Harness) -> None:
    rec = Recorder(h)
    h.consume("q", rec, max_batch_size=10, max_batch_timeout=5)
    producer = h.broker.producer("q")
    await producer.send("a")
    await h.advance(3)
    await producer.send("b")
    await h.advance(2)  # 5 s after "a": both go together
    assert rec.batches == [[("a", 1), ("b", 1)]]


async def test_no_empty_batches_and_no_timers_when_idle(h: Harness) -> None:
    rec = Recorder(h)
    h.consume("q", rec, max_batch_timeout=1)
    await h.advance(100)
    assert rec.batches == []
    assert h.clock.pending_timers == 0


async def test_delayed_messages_become_ready_when_due(h: Harness) -> None:
    rec = Recorder(h)
    h.consume("q", rec, max_batch_size=10, max_batch_timeout=0)
    await h.broker.producer("q").send("later", delaySeconds=30)
    await h.advance(29)
    assert rec.batches == []
    assert [m.body for m in h.broker.queues["q"].delayed()] == ["later"]
    await h.advance(1)
    assert rec.batches == [[("later", 1)]]


async def test_delay_then_batch_timeout(h: Harness) -> None:
    rec = Recorder(h)
    h.consume("q", rec, max_batch_size=10, max_batch_timeout=5)
    start = h.clock.now()
    await h.broker.producer("q").send("x", delaySeconds=10)
    await h.drain()
    assert rec.times == [start + 15]


# --- outcomes ------------------------------------------------------------------------------------
async def test_returning_normally_acks_everything_not_retried(h: Harness) -> None:
    def action(batch: MessageBatch) -> None:
        if len(batch.messages) == 3:
            batch.messages[1].retry()

    rec = Recorder(h, action)
    h.consume("q", rec, max_batch_timeout=0, max_retries=5)
    await send_all(h, ["a", "b", "c"])
    await h.run_tasks()
    stats = h.broker.queues["q"].stats()
    assert (stats.acked, stats.retried) == (3, 1)
    assert rec.batches == [[("a", 1), ("b", 1), ("c", 1)], [("b", 2)]]


async def test_raising_retries_everything_except_explicit_acks(h: Harness) -> None:
    def action(batch: MessageBatch) -> None:
        if batch.messages[0].attempts == 1:
            batch.messages[0].ack()
            raise BoomError

    rec = Recorder(h, action)
    h.consume("q", rec, max_batch_timeout=0)
    await send_all(h, ["a", "b", "c"])
    await h.drain()
    assert rec.batches == [[("a", 1), ("b", 1), ("c", 1)], [("b", 2), ("c", 2)]]
    stats = h.broker.queues["q"].stats()
    assert (stats.acked, stats.retried, stats.failed_batches, stats.batches) == (3, 2, 1, 2)


async def test_ack_all_before_raising_keeps_the_batch_acked(h: Harness) -> None:
    def action(batch: MessageBatch) -> None:
        batch.ackAll()
        raise BoomError

    rec = Recorder(h, action)
    h.consume("q", rec, max_batch_timeout=0)
    await send_all(h, ["a", "b"])
    await h.drain()
    assert len(rec.batches) == 1
    assert h.broker.queues["q"].stats().acked == 2


async def test_raising_after_retry_keeps_the_per_message_delay(h: Harness) -> None:
    def action(batch: MessageBatch) -> None:
        if batch.messages[0].attempts == 1:
            batch.messages[0].retry(delaySeconds=40)
            raise BoomError

    rec = Recorder(h, action)
    h.consume("q", rec, max_batch_timeout=0, retry_delay=7)
    start = h.clock.now()
    await send_all(h, ["own delay", "consumer delay"])
    await h.drain()
    assert rec.batches[1:] == [[("consumer delay", 2)], [("own delay", 2)]]
    assert rec.times[1:] == [start + 7, start + 40]


async def test_handler_exceptions_are_logged(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    async def handler(batch: MessageBatch) -> None:
        raise BoomError("kaput")

    h.consume("q", handler, max_batch_timeout=0, max_retries=0)
    await h.broker.producer("q").send(1)
    with caplog.at_level(logging.ERROR, logger="cfemu.queues"):
        await h.drain()
    assert any("BoomError('kaput')" in r.getMessage() for r in caplog.records)


# --- precedence table (spec: queues.md §4.3) -----------------------------------------------------
ACK_THEN_RETRY = (
    "Received a call to retry() on message {id} after ack() was already called. "
    "Calling retry() on a message after calling ack() has no effect."
)
RETRY_THEN_ACK = (
    "Received a call to ack() on message {id} after retry() was already called. "
    "Calling ack() on a message after calling retry() has no effect."
)
ACKALL_THEN_RETRY = (
    "Received a call to retry() on message {id} after ackAll() was already called. "
    "Calling retry() on a message after calling ackAll() has no effect."
)
RETRYALL_THEN_ACK = (
    "Received a call to ack() on message {id} after retryAll() was already called. "
    "Calling ack() on a message after calling retryAll() has no effect."
)
ACKALL_THEN_RETRYALL = (
    "Received a call to retryAll() after ackAll() was already called. "
    "Calling retryAll() after calling ackAll() has no effect."
)
RETRYALL_THEN_ACKALL = (
    "Received a call to ackAll() after retryAll() was already called. "
    "Calling ackAll() after calling retryAll() has no effect."
)


@pytest.mark.parametrize(
    ("calls", "outcome", "warning"),
    [
        ("ack ack", "acked", None),
        ("ack retry", "acked", ACK_THEN_RETRY),
        ("retry ack", "retried", RETRY_THEN_ACK),
        ("retry retry", "retried", None),
        ("ack ackAll", "acked", None),
        ("ack retryAll", "acked", None),
        ("retry ackAll", "retried", None),
        ("retry retryAll", "retried", None),
        ("ackAll retry", "acked", ACKALL_THEN_RETRY),
        ("ackAll ack", "acked", None),
        ("retryAll ack", "retried", RETRYALL_THEN_ACK),
        ("retryAll retry", "retried", None),
        ("ackAll retryAll", "acked", ACKALL_THEN_RETRYALL),
        ("retryAll ackAll", "retried", RETRYALL_THEN_ACKALL),
        ("ackAll", "acked", None),
        ("retryAll", "retried", None),
        ("", "acked", None),
    ],
)
@pytest.mark.parametrize("then_raise", [False, True])
async def test_precedence_table(
    h: Harness,
    caplog: pytest.LogCaptureFixture,
    calls: str,
    outcome: str,
    warning: str | None,
    then_raise: bool,
) -> None:
    ids: list[str] = []

    def action(batch: MessageBatch) -> None:
        if batch.messages[0].attempts > 1:
            return
        msg = batch.messages[0]
        ids.append(msg.id)
        for call in calls.split():
            {
                "ack": msg.ack,
                "retry": msg.retry,
                "ackAll": batch.ackAll,
                "retryAll": batch.retryAll,
            }[call]()
        if then_raise:
            raise BoomError

    rec = Recorder(h, action)
    h.consume("q", rec, max_batch_timeout=0, max_retries=3)
    await h.broker.producer("q").send("m")
    with caplog.at_level(logging.WARNING, logger="cfemu.queues"):
        await h.run_tasks()
    if then_raise and calls == "":
        outcome = "retried"  # a failed invocation without any decision retries the batch
    stats = h.broker.queues["q"].stats()  # a retried message is acked on its 2nd delivery
    assert (stats.batches, stats.acked, stats.retried) == (
        (1, 1, 0) if outcome == "acked" else (2, 1, 1)
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ([] if warning is None else [warning.format(id=ids[0])])


# --- retry delays: retry(d) > retryAll(d) > retry_delay > 0 -------------------------------------
@pytest.mark.parametrize(
    ("calls", "retry_delay", "expected"),
    [
        (["retry(3)"], 9, 3),
        (["retry(3)", "retryAll(5)"], 9, 3),
        (["retryAll(5)", "retry(3)"], 9, 3),
        (["retry()", "retryAll(5)"], 9, 5),
        (["retryAll(5)"], 9, 5),
        (["retryAll()"], 9, 9),
        (["retry()"], 9, 9),
        (["retry()"], 0, 0),
        (["retry(0)"], 9, 0),
        (["retryAll(0)"], 9, 0),
        (["raise"], 9, 9),
        (["retryAll(5)", "raise"], 9, 5),
        (["retry(3)", "retry()"], 9, 9),  # a repeated retry() replaces its options (workerd)
    ],
)
async def test_retry_delay_precedence(
    h: Harness, calls: list[str], retry_delay: int, expected: int
) -> None:
    def action(batch: MessageBatch) -> None:
        if batch.messages[0].attempts > 1:
            return
        for call in calls:
            name, _, arg = call.partition("(")
            delay = int(arg[:-1]) if arg[:-1] else None
            if name == "retry":
                batch.messages[0].retry(delaySeconds=delay)
            elif name == "retryAll":
                batch.retryAll(delaySeconds=delay)
            else:
                raise BoomError

    rec = Recorder(h, action)
    h.consume("q", rec, max_batch_timeout=0, retry_delay=retry_delay)
    start = h.clock.now()
    await h.broker.producer("q").send("m")
    await h.drain()
    assert rec.times == [start, start + expected]


@pytest.mark.parametrize("bad", [-1, 43_201, 2.5])
async def test_invalid_retry_delay_raises_in_the_handler(h: Harness, bad: float) -> None:
    errors: list[BaseException] = []

    def action(batch: MessageBatch) -> None:
        for call in (batch.messages[0].retry, batch.retryAll):
            try:
                call(delaySeconds=bad)  # type: ignore[arg-type]
            except QueueError as exc:
                errors.append(exc)

    h.consume("q", Recorder(h, action), max_batch_timeout=0)
    await h.broker.producer("q").send("m")
    await h.drain()
    assert [str(e) for e in errors] == [
        f"message delay {bad} is invalid: delaySeconds must be an integer between 0 and 43200"
    ] * 2
    assert h.broker.queues["q"].stats().acked == 1  # the invalid calls recorded nothing


# --- attempts, dead letters, drops ------------------------------------------------------------
async def test_dropped_after_max_retries_plus_one_attempts(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    def action(batch: MessageBatch) -> None:
        batch.retryAll()

    rec = Recorder(h, action)
    h.consume("q", rec, max_batch_timeout=0, max_retries=2)
    await h.broker.producer("q").send("doomed")
    with caplog.at_level(logging.INFO, logger="cfemu.queues"):
        await h.drain()
    assert rec.batches == [[("doomed", 1)], [("doomed", 2)], [("doomed", 3)]]
    stats = h.broker.queues["q"].stats()
    assert (stats.dropped, stats.dead_lettered, stats.retried, stats.depth) == (1, 0, 2, 0)
    msg_id = re.search(r'"([0-9a-f]{32})"', caplog.text)
    assert msg_id is not None
    assert f'Dropped message "{msg_id[1]}" on queue "q" after 3 failed attempts!' in caplog.text


async def test_max_retries_zero_means_a_single_delivery(h: Harness) -> None:
    async def handler(batch: MessageBatch) -> None:
        raise BoomError

    rec = Recorder(h, handler)
    h.consume("q", rec, max_batch_timeout=0, max_retries=0)
    await h.broker.producer("q").send("once")
    await h.drain()
    assert rec.batches == [[("once", 1)]]
    assert h.broker.queues["q"].stats().dropped == 1


async def test_dead_letter_keeps_id_timestamp_and_body_and_resets_attempts(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, str, object, int, object]] = []

    async def main(batch: MessageBatch) -> None:
        for m in batch.messages:
            seen.append((batch.queue, m.id, m.timestamp, m.attempts, m.body))
        raise BoomError

    async def dlq(batch: MessageBatch) -> None:
        for m in batch.messages:
            seen.append((batch.queue, m.id, m.timestamp, m.attempts, m.body))

    h.consume("q", main, max_batch_timeout=0, max_retries=1, dead_letter_queue="q-dlq")
    h.consume("q-dlq", dlq, max_batch_timeout=0)
    await h.broker.producer("q").send({"job": 7}, contentType="json")
    with caplog.at_level(logging.WARNING, logger="cfemu.queues"):
        await h.drain()
    assert [(q, a) for q, _, _, a, _ in seen] == [("q", 1), ("q", 2), ("q-dlq", 1)]
    assert len({(i, t) for _, i, t, _, _ in seen}) == 1
    assert seen[-1][4] == {"job": 7}
    msg_id = seen[0][1]
    assert (
        f'Moving message "{msg_id}" on queue "q" to dead letter queue "q-dlq" after 2 failed '
        "attempts..."
    ) in caplog.text
    main_stats, dlq_stats = (h.broker.queues[n].stats() for n in ("q", "q-dlq"))
    assert (main_stats.dead_lettered, main_stats.dropped, main_stats.depth) == (1, 0, 0)
    assert (dlq_stats.moved_in, dlq_stats.acked, dlq_stats.sent) == (1, 1, 0)


async def test_dead_letter_queue_without_consumer_keeps_messages(h: Harness) -> None:
    async def main(batch: MessageBatch) -> None:
        batch.retryAll()

    h.consume("q", main, max_batch_timeout=0, max_retries=0, dead_letter_queue="dlq")
    await send_all(h, ["a", "b"])
    await h.drain()
    view = h.broker.queues["q"].dead_letter_queue
    assert view is not None and view.name == "dlq"
    assert [m.body for m in view.ready()] == ["a", "b"]
    assert view.stats().depth == 2
    assert view.stats()["depth"] == view.stats().as_dict()["backlog"] == 2
    assert h.broker.is_settled()
    with pytest.raises(KeyError):
        view.stats()["nope"]


# --- concurrency --------------------------------------------------------------------------------
async def test_default_concurrency_is_one_batch_at_a_time(h: Harness) -> None:
    running = 0
    peak = 0

    async def handler(batch: MessageBatch) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await h.clock.sleep(1)
        running -= 1

    h.consume("q", handler, max_batch_size=1, max_batch_timeout=0)
    start = h.clock.now()
    await send_all(h, list(range(5)))
    await h.run_tasks()
    assert h.broker.queues["q"].stats().in_flight == 1
    await h.drain()
    assert peak == 1
    assert h.clock.now() == start + 5  # one after the other
    assert h.broker.queues["q"].stats().acked == 5


async def test_max_concurrency_allows_parallel_batches(h: Harness) -> None:
    running = 0
    peak = 0

    async def handler(batch: MessageBatch) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await h.clock.sleep(10)
        running -= 1

    h.consume("q", handler, max_batch_size=2, max_batch_timeout=0, max_concurrency=3)
    start = h.clock.now()
    await send_all(h, list(range(10)))
    await h.run_tasks()
    stats = h.broker.queues["q"].stats()
    assert (stats.in_flight, stats.depth, stats.backlog, stats.batches) == (6, 4, 10, 3)
    await h.drain()
    assert peak == 3
    assert h.clock.now() == start + 20


async def test_in_flight_messages_are_not_redelivered(h: Harness) -> None:
    deliveries: list[list[object]] = []

    async def handler(batch: MessageBatch) -> None:
        deliveries.append([m.body for m in batch.messages])
        await h.clock.sleep(100)  # far longer than any timeout

    h.consume("q", handler, max_batch_size=2, max_batch_timeout=1, max_concurrency=5)
    await send_all(h, ["a", "b", "c"])
    await h.advance(50)
    assert deliveries == [["a", "b"], ["c"]]
    assert [m.body for m in h.broker.queues["q"].in_flight()] == ["a", "b", "c"]


# --- queues without a consumer, several queues, configuration ------------------------------------
async def test_start_delivers_what_is_already_queued(h: Harness) -> None:
    await send_all(h, ["early"])
    rec = Recorder(h)
    h.consume("q", rec, max_batch_timeout=0)
    h.broker.start()
    h.broker.start()
    await h.drain()
    assert rec.batches == [[("early", 1)]]


async def test_store_path_keeps_queues_in_a_sqlite_store(tmp_path: Path) -> None:
    from cfemu._tasks import TaskTracker
    from cfemu.clock import VirtualClock
    from cfemu.queues import Broker
    from cfemu.queues.sqlite_store import SqliteStore

    broker = Broker(VirtualClock(), TaskTracker(), store_path=tmp_path / "queues.sqlite")
    assert isinstance(broker.store, SqliteStore)
    await broker.aclose()
    assert broker.store.closed


async def test_queue_without_consumer_keeps_messages_and_arms_no_timers(h: Harness) -> None:
    producer = h.broker.producer("orphan")
    await producer.send("now")
    await producer.send("later", delaySeconds=60)
    assert h.clock.pending_timers == 0
    await h.drain()
    view = h.broker.queues["orphan"]
    assert [m.body for m in view.ready()] == ["now"]
    assert (await producer.metrics()).backlogCount == 2
    assert h.broker.is_settled()
    h.clock.advance(60)
    assert [m.body for m in view.ready()] == ["now", "later"]  # inspection promotes due ones
    rec = Recorder(h)
    h.consume("orphan", rec, max_batch_timeout=0)  # a consumer attached later gets them
    await h.drain()
    assert rec.bodies == ["now", "later"]


async def test_one_consumer_serves_several_queues(h: Harness) -> None:
    rec = Recorder(h)
    h.consume("a", rec, max_batch_timeout=0)
    h.consume("b", rec, max_batch_timeout=0)
    await h.broker.producer("a").send(1)
    await h.broker.producer("b").send(2)
    await h.drain()
    assert sorted(zip(rec.queues, rec.bodies, strict=True)) == [("a", 1), ("b", 2)]


async def test_peeking_consumes_nothing(h: Harness) -> None:
    await send_all(h, ["a", "b"])
    view = h.broker.queues["q"]
    for _ in range(3):
        assert [(m.body, m.state, m.attempts) for m in view.messages()] == [
            ("a", "ready", 0),
            ("b", "ready", 0),
        ]
    assert view.stats().delivered == 0


async def test_one_consumer_per_queue_and_dead_letter_queue_not_itself(h: Harness) -> None:
    async def handler(batch: MessageBatch) -> None:
        return None

    h.broker.set_consumer("q", ConsumerSettings(), handler, name="w1")
    with pytest.raises(
        QueueError, match=r'^Multiple consumers defined for queue "q": "w1" and "w2"$'
    ):
        h.broker.set_consumer("q", ConsumerSettings(), handler, name="w2")
    with pytest.raises(QueueError, match=r'^Dead letter queue for queue "x" cannot be itself$'):
        h.broker.set_consumer("x", ConsumerSettings(dead_letter_queue="x"), handler)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_batch_size", 0, "max_batch_size must be between 1 and 100, got 0"),
        ("max_batch_size", 101, "max_batch_size must be between 1 and 100, got 101"),
        ("max_batch_timeout", 61, "max_batch_timeout must be between 0 and 60, got 61"),
        ("max_retries", 101, "max_retries must be between 0 and 100, got 101"),
        ("max_concurrency", 0, "max_concurrency must be between 1 and 250, got 0"),
        ("retry_delay", 43_201, "retry_delay must be between 0 and 43200, got 43201"),
    ],
)
def test_consumer_settings_are_validated(field: str, value: int, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ConsumerSettings(**{field: value})  # type: ignore[arg-type]


def test_consumer_settings_defaults_are_production_ones() -> None:
    settings = ConsumerSettings()
    assert (settings.max_batch_size, settings.max_batch_timeout, settings.max_retries) == (10, 5, 3)
    assert settings.effective_max_concurrency == 1
    assert ConsumerSettings(max_concurrency=250).effective_max_concurrency == 250


# --- logs, faults, shutdown -------------------------------------------------------------------
async def test_one_log_line_per_batch(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    async def handler(batch: MessageBatch) -> None:
        batch.messages[0].retry()
        await h.clock.sleep(0.25)

    h.consume("jobs", handler, max_batch_size=3, max_batch_timeout=0, max_retries=0)
    await send_all(h, [1, 2, 3], queue="jobs")
    with caplog.at_level(logging.INFO, logger="cfemu.queues"):
        await h.drain()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("QUEUE")]
    assert lines == ["QUEUE jobs 3 messages: 2 acked, 1 dropped after the last retry (250ms)"]


async def test_injected_consumer_crash_after_k_acks(h: Harness) -> None:
    h.faults.add(
        FaultRule("queue.consumer", "q", lambda: BoomError("crash"), times=1, crash_after=2)
    )

    def action(batch: MessageBatch) -> None:
        for m in batch.messages:
            m.ack()

    rec = Recorder(h, action)
    h.consume("q", rec, max_batch_timeout=0)
    await send_all(h, ["a", "b", "c", "d"])
    await h.drain()
    assert rec.batches == [[("a", 1), ("b", 1), ("c", 1), ("d", 1)], [("c", 2), ("d", 2)]]
    stats = h.broker.queues["q"].stats()
    assert (stats.acked, stats.retried, stats.faults, stats.failed_batches) == (4, 2, 1, 1)


async def test_injected_crash_fails_a_handler_that_makes_no_calls(h: Harness) -> None:
    h.faults.add(FaultRule("queue.consumer", "q", lambda: BoomError(), times=1, crash_after=0))
    rec = Recorder(h)
    h.consume("q", rec, max_batch_timeout=0)
    await send_all(h, ["a"])
    await h.drain()
    assert rec.batches == [[("a", 1)], [("a", 2)]]


async def test_aclose_returns_in_flight_messages_to_the_queue_as_a_failed_attempt(
    h: Harness,
) -> None:
    async def handler(batch: MessageBatch) -> None:
        await h.clock.sleep(100)

    h.consume("q", handler, max_batch_size=2, max_batch_timeout=0)
    await send_all(h, ["a", "b", "c"])
    await h.run_tasks()
    view = h.broker.queues["q"]
    assert view.stats().in_flight == 2
    await h.broker.aclose()
    # like a crash, the interrupted delivery counts as an attempt (docs/persistence.md)
    assert [(m.body, m.attempts) for m in view.ready()] == [("c", 0), ("a", 1), ("b", 1)]
    assert view.stats().in_flight == 0
    assert (view.stats().delivered, view.stats().retried, view.stats().failed_batches) == (2, 2, 1)
    assert h.clock.pending_timers == 0
    await h.broker.producer("q").send("after close")  # accepted, but nothing is delivered
    await h.run_tasks()
    assert view.stats().depth == 4


async def test_aclose_with_grace_lets_in_flight_batches_finish_and_settle(h: Harness) -> None:
    gate = asyncio.Event()

    async def handler(batch: MessageBatch) -> None:
        await gate.wait()
        batch.messages[0].ack()

    h.consume("q", handler, max_batch_size=2, max_batch_timeout=0)
    await send_all(h, ["a", "b"])
    for _ in range(10):  # the delivery starts and blocks on the gate
        await asyncio.sleep(0)
    view = h.broker.queues["q"]
    assert view.stats().in_flight == 2
    closing = asyncio.create_task(h.broker.aclose(grace_seconds=30))
    await asyncio.sleep(0)
    gate.set()  # the handler finishes within the grace period...
    await closing
    stats = view.stats()  # ...so its outcome settles as usual: nothing is retried
    assert (stats.acked, stats.retried, stats.failed_batches, stats.backlog) == (2, 0, 0, 0)


async def test_aclose_handles_deliveries_cancelled_before_they_started(h: Harness) -> None:
    async def handler(batch: MessageBatch) -> None:
        raise AssertionError("never runs")

    h.consume("q", handler, max_batch_timeout=0)
    await send_all(h, ["a"])  # delivery task created, not yet started
    await h.broker.aclose()
    assert [m.body for m in h.broker.queues["q"].ready()] == ["a"]


async def test_processing_rate(h: Harness) -> None:
    async def handler(batch: MessageBatch) -> None:
        await h.clock.sleep(1)

    h.consume("q", handler, max_batch_size=2, max_batch_timeout=0)
    assert h.broker.queues["q"].stats().processing_rate is None
    await send_all(h, list(range(4)))
    await h.drain()
    assert h.broker.queues["q"].stats().processing_rate == pytest.approx(2.0)


async def test_a_body_that_cannot_be_deserialized_fails_the_delivery_without_wedging_the_queue(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder(h)
    producer = h.broker.producer("q")
    await producer.send("damaged", contentType="v8")
    [stored] = h.broker._core("q").store.iter_ready()
    stored.payload = b"\x80\x05 a pickle from an older cfemu"  # never unpickled
    h.consume("q", rec, max_batch_timeout=0, max_retries=1, dead_letter_queue="dlq")
    await h.run_tasks()
    await producer.send("fine", contentType="v8")
    with caplog.at_level(logging.ERROR, logger="cfemu.queues"):
        await h.drain()
    assert "cannot deserialize a message of the batch" in caplog.text
    assert "fine" in rec.bodies
    stats = h.broker.queues["q"].stats()
    assert (stats.in_flight, stats.backlog, stats.acked, stats.dead_lettered) == (0, 0, 1, 1)
    assert len(h.broker.queues["dlq"]) == 1


async def test_the_wall_clock_limit_runs_from_each_invocations_own_start(h: Harness) -> None:
    """Invocations that follow each other share one watchdog timer: the timer armed for an
    earlier one firing ends no later one before its own limit, and none is left armed
    once nothing runs (``drain()`` would jump the virtual clock to it)."""
    h.broker.consumer_wall_clock_limit = 10
    ran: list[tuple[str, float]] = []

    async def handler(batch: MessageBatch) -> None:
        started = h.clock.now()
        body = batch.messages[0].body
        try:
            await h.clock.sleep(4 if body == "quick" else 60)
        finally:
            ran.append((body, h.clock.now() - started))

    h.consume("jobs", handler, max_batch_size=1, max_batch_timeout=0, max_retries=0)
    producer = h.broker.producer("jobs")
    start = h.clock.now()
    await producer.sendBatch([{"body": "quick"}, {"body": "stuck"}])
    await h.drain()
    # "stuck" started as "quick" ended (t=4); the timer armed for "quick" fired at t=10.
    assert ran == [("quick", 4), ("stuck", 10)]
    assert h.clock.now() - start == 14
    await producer.send("quick")
    await h.drain()
    assert h.clock.now() - start == 18  # not 24: the timer for its limit did not linger
    assert h.broker.queues["jobs"].stats().dropped == 1
