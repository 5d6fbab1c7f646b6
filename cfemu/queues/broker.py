"""The queue broker: batching, delivery, ack/retry resolution, dead-letter routing.

One :class:`Broker` serves every queue of an emulator. Per queue, a small state machine
(:class:`_QueueCore`) moves messages through the states of :mod:`cfemu.queues.store` with
named transitions: :meth:`~_QueueCore.enqueue` (send), :meth:`~_QueueCore.pump` (promote due
delayed messages, arm timers, :meth:`~_QueueCore.flush` full or timed-out batches) and
:meth:`~_QueueCore.settle` (resolve an invocation's outcome). Deliveries run as tasks on the
emulator's :class:`~cfemu._tasks.TaskTracker`; every timer comes from the clock, so under a
:class:`~cfemu.clock.VirtualClock` nothing sleeps. Production semantics throughout (spec:
queues.md §4); the emulator-only choice is ``max_concurrency`` defaulting to 1.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from cfemu import limits
from cfemu._faults import Faults
from cfemu._js import JsDict
from cfemu._log import invocation
from cfemu._tasks import TaskTracker
from cfemu.clock import Clock, TimerHandle
from cfemu.compat import Compat
from cfemu.errors import QueueError, QueueSendError, StateError
from cfemu.queues._codec import decode
from cfemu.queues._invoke import run_consumer
from cfemu.queues.message import ACK, NONE, RETRY, MessageBatch
from cfemu.queues.producer import QueueProducer
from cfemu.queues.store import (
    DELAYED,
    IN_FLIGHT,
    MemoryStore,
    MessageStore,
    QueueStore,
    StoredMessage,
    StoreWriteError,
)

if TYPE_CHECKING:
    from cfemu.queues.pull import PullConsumer, PullSettings
    from cfemu.queues.sqlite_store import SqliteStore

__all__ = [
    "Broker",
    "ConsumerSettings",
    "QueueHandler",
    "QueueStats",
    "QueueView",
    "QueuedMessage",
]

#: A consumer: called with each batch; raising means the invocation failed.
QueueHandler = Callable[[MessageBatch], Awaitable[None]]

_EPSILON: Final = 1e-6  # a real-clock timer may fire a hair early


def _check_range(key: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{key} must be between {low:g} and {high:g}, got {value!r}")


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    """How a queue's consumer is fed (``[[queues.consumers]]``; production defaults).

    ``max_concurrency=None`` means :data:`cfemu.limits.DEFAULT_EMULATED_MAX_CONCURRENCY` (1):
    production autoscales up to 250 concurrent invocations, the emulator runs one batch of a
    queue at a time unless told otherwise, so that local runs are deterministic.
    """

    max_batch_size: int = limits.DEFAULT_MAX_BATCH_SIZE
    max_batch_timeout: float = limits.DEFAULT_MAX_BATCH_TIMEOUT
    max_retries: int = limits.DEFAULT_MAX_RETRIES
    dead_letter_queue: str | None = None
    max_concurrency: int | None = None
    retry_delay: int = 0

    def __post_init__(self) -> None:
        _check_range(
            "max_batch_size",
            self.max_batch_size,
            limits.MIN_MAX_BATCH_SIZE,
            limits.MAX_MAX_BATCH_SIZE,
        )
        _check_range(
            "max_batch_timeout",
            self.max_batch_timeout,
            limits.MIN_MAX_BATCH_TIMEOUT,
            limits.MAX_MAX_BATCH_TIMEOUT,
        )
        _check_range(
            "max_retries", self.max_retries, limits.MIN_MAX_RETRIES, limits.MAX_MAX_RETRIES
        )
        if self.max_concurrency is not None:
            _check_range(
                "max_concurrency",
                self.max_concurrency,
                limits.MIN_MAX_CONCURRENCY,
                limits.MAX_MAX_CONCURRENCY,
            )
        _check_range(
            "retry_delay", self.retry_delay, limits.MIN_DELAY_SECONDS, limits.MAX_DELAY_SECONDS
        )
        if not float(self.retry_delay).is_integer():
            raise ValueError(
                f"retry_delay must be a whole number of seconds, got {self.retry_delay}"
            )

    @property
    def effective_max_concurrency(self) -> int:
        """Batches of the queue allowed in flight at once in the emulator."""
        if self.max_concurrency is None:
            return limits.DEFAULT_EMULATED_MAX_CONCURRENCY
        return self.max_concurrency


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Counters and gauges of one queue (:meth:`QueueView.stats`).

    Gauges: ``depth`` (messages waiting for delivery), ``delayed``, ``in_flight`` (disjoint),
    ``backlog`` (their sum: Cloudflare's ``backlogCount``), ``backlog_bytes``. Counters since
    the broker started: ``sent`` (by producers), ``moved_in`` (dead-lettered into this queue
    from others), ``delivered`` (message deliveries, redeliveries included), ``acked``,
    ``retried`` (requeued for another attempt), ``dead_lettered`` (moved out to the DLQ),
    ``dropped`` (retries exhausted, no DLQ), ``batches`` (consumer invocations),
    ``failed_batches`` (invocations that raised), ``faults`` (injected send failures and
    consumer crashes). ``processing_rate``: messages finally handled (acked + dead-lettered +
    dropped) per second of clock time since the first message arrived; ``None`` until
    measurable. Fields can also be read as ``stats["depth"]``.
    """

    queue: str
    depth: int
    delayed: int
    in_flight: int
    backlog: int
    backlog_bytes: int
    sent: int
    moved_in: int
    delivered: int
    acked: int
    retried: int
    dead_lettered: int
    dropped: int
    batches: int
    failed_batches: int
    faults: int
    processing_rate: float | None

    def __getitem__(self, key: str) -> Any:
        """Mapping-style access: ``stats["acked"]``."""
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (e.g. for JSON)."""
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A snapshot of one queued message, for inspection (peeking consumes nothing)."""

    id: str
    timestamp: datetime
    body: Any
    content_type: str
    attempts: int
    size: int
    state: str  # "ready" | "delayed" | "in_flight"
    due: datetime | None  # when a delayed message becomes ready


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _snapshot(rec: StoredMessage, state: str) -> QueuedMessage:
    return QueuedMessage(
        id=rec.id,
        timestamp=_utc(rec.timestamp_ms / 1000),
        body=decode(rec.content_type, rec.payload),
        content_type=rec.content_type,
        attempts=rec.attempts,
        size=rec.size,
        state=state,
        due=_utc(rec.due) if rec.state == DELAYED else None,
    )


class _Delivery:
    """One consumer invocation in flight; ``finished`` once its outcome has been applied."""

    __slots__ = ("core", "finished", "records", "task")

    def __init__(self, core: _QueueCore, records: list[StoredMessage]) -> None:
        self.core = core
        self.records = records
        self.finished = False
        self.task: asyncio.Task[Any] | None = None


class QueueView:
    """Read-only inspection of one queue: ``broker.queues[name]`` / ``emulator.queues[name]``."""

    __slots__ = ("_core",)

    def __init__(self, core: _QueueCore) -> None:
        self._core = core

    @property
    def name(self) -> str:
        """The queue's name."""
        return self._core.name

    @property
    def consumer(self) -> ConsumerSettings | None:
        """The consumer's settings, or ``None`` when nothing consumes this queue."""
        return self._core.settings

    @property
    def dead_letter_queue(self) -> QueueView | None:
        """The view of this queue's dead-letter queue, if its consumer has one."""
        settings = self._core.settings
        if settings is None or settings.dead_letter_queue is None:
            return None
        return self._core.broker.queues[settings.dead_letter_queue]

    def ready(self) -> list[QueuedMessage]:
        """Messages waiting for delivery, in delivery order."""
        core = self._core
        core.refresh()
        return [_snapshot(rec, "ready") for rec in core.store.iter_ready()]

    def delayed(self) -> list[QueuedMessage]:
        """Messages whose delay has not ended, earliest first."""
        core = self._core
        core.refresh()
        return [_snapshot(rec, "delayed") for rec in core.store.iter_delayed()]

    def in_flight(self) -> list[QueuedMessage]:
        """Messages in a batch whose handler is running."""
        return [_snapshot(rec, "in_flight") for rec in self._core.store.iter_in_flight()]

    def messages(self) -> list[QueuedMessage]:
        """Every message not yet done: in flight, ready, then delayed."""
        return self.in_flight() + self.ready() + self.delayed()

    @property
    def paused(self) -> bool:
        """Whether delivery of this queue is paused (``pause-delivery``)."""
        return self._core.paused

    def metrics(self) -> JsDict:
        """Cloudflare's metrics object: ``backlogCount``, ``backlogBytes``,
        ``oldestMessageTimestamp`` (what ``env.Q.metrics()`` returns)."""
        return self._core.metrics()

    def stats(self) -> QueueStats:
        """Counters and gauges (see :class:`QueueStats`)."""
        return self._core.stats()

    def __len__(self) -> int:
        """The backlog: messages ready, delayed and in flight."""
        store = self._core.store
        return store.ready_count + store.delayed_count + store.in_flight_count

    def __repr__(self) -> str:
        return f"<QueueView {self.name!r} depth={len(self)}>"


class _QueueCore:
    """The delivery state machine of one queue."""

    __slots__ = (
        "_batch_timer",
        "_delay_timer",
        "acked",
        "active",
        "batches",
        "broker",
        "check_spent",
        "clock",
        "dead_lettered",
        "delivered",
        "dropped",
        "failed_batches",
        "faults",
        "first_at",
        "handler",
        "last_settled_at",
        "max_attempts",
        "max_batch",
        "max_concurrency",
        "moved_in",
        "name",
        "paused",
        "pull",
        "retried",
        "retry_delay",
        "sent",
        "settings",
        "store",
        "timeout",
        "view",
    )

    def __init__(self, broker: Broker, name: str, store: QueueStore) -> None:
        self.broker = broker
        self.clock = broker.clock
        self.name = name
        self.store = store
        self.settings: ConsumerSettings | None = None
        self.handler: QueueHandler | None = None
        self.max_batch = limits.DEFAULT_MAX_BATCH_SIZE
        self.timeout = limits.DEFAULT_MAX_BATCH_TIMEOUT
        self.max_attempts = limits.DEFAULT_MAX_RETRIES + 1
        self.max_concurrency = limits.DEFAULT_EMULATED_MAX_CONCURRENCY
        self.retry_delay = 0
        self.active = 0
        self.check_spent = False
        self._batch_timer: TimerHandle | None = None
        self._delay_timer: TimerHandle | None = None
        self.sent = self.moved_in = self.delivered = self.acked = self.retried = 0
        self.dead_lettered = self.dropped = self.batches = self.failed_batches = 0
        self.faults = 0
        #: Delivery paused (``pause``): messages are accepted and kept, nothing is delivered.
        self.paused = False
        #: The queue's HTTP pull consumer (``cfemu.queues.pull``), if it has one.
        self.pull: PullConsumer | None = None
        self.first_at: float | None = None
        self.last_settled_at: float | None = None
        self.view = QueueView(self)

    # --- configuration -----------------------------------------------------------------------
    def attach(self, settings: ConsumerSettings, handler: QueueHandler | None) -> None:
        """Attach the consumer: a push ``handler``, or ``None`` for an HTTP pull consumer
        (its settings - retries, dead-letter queue, retry delay - still apply)."""
        self.settings = settings
        self.handler = handler
        self.max_batch = settings.max_batch_size
        self.timeout = float(settings.max_batch_timeout)
        self.max_attempts = settings.max_retries + 1
        self.max_concurrency = settings.effective_max_concurrency
        self.retry_delay = int(settings.retry_delay)
        if self.store.in_flight_count and not self.active:
            self.recover()
        # Restored state (a restart with a persistent store) may hold messages that already
        # failed as many deliveries as this consumer allows (its max_retries was lowered):
        # they are dead-lettered or dropped when due, never delivered again (spec: §4.4).
        limit = self.max_attempts
        self.check_spent = any(
            rec.attempts >= limit
            for rec in itertools.chain(self.store.iter_ready(), self.store.iter_delayed())
        )
        self.pump()

    # --- transitions ---------------------------------------------------------------------------
    async def send(
        self,
        records: tuple[StoredMessage, ...] | list[StoredMessage],
        now: float,
        failure: str = "Queue send failed",
    ) -> None:
        """New messages from a producer (already validated, serialized and sized); returns
        once they are durable. If the store cannot write them, nothing is queued and the
        producer gets Cloudflare's error for a failed send (``failure``: its prefix)."""
        try:
            await self.broker.store.add(
                self.store, records, now, partial(self._sent, len(records), now)
            )
        except StoreWriteError as exc:
            self.broker.logger.error(
                "Queue %r: %d message(s) not queued, the state could not be written: %s",
                self.name,
                len(records),
                exc,
            )
            # spec: queues.md §8 — a failed write is the queue service's 500.
            raise QueueSendError(
                f"{failure}: Internal Server Error",
                status=500,
                cause="Internal Server Error",
                code=15000,
            ) from exc

    def _sent(self, count: int, now: float) -> None:
        """The store queued ``count`` new messages (they are durable)."""
        self.sent += count
        if self.first_at is None:
            self.first_at = now
        if self.handler is not None:
            self.pump()

    def receive_dead_letters(self, records: list[StoredMessage], now: float) -> None:
        """Messages moved here as the dead-letter queue of another queue."""
        self.store.enqueue(records, now)
        self.moved_in += len(records)
        if self.first_at is None:
            self.first_at = now

    def pump(self) -> None:
        """Promote due messages, flush every batch that is due, and (re)arm the timers."""
        broker = self.broker
        if self.handler is None or self.paused or broker.closed or not broker.store.writable:
            return  # (an unwritable store: resumed by Broker._resume once it writes again)
        store = self.store
        now = self.clock.now()
        next_due = store.next_due()
        if next_due is not None and next_due <= now:
            store.promote(now)
            next_due = store.next_due()
        batch_deadline: float | None = None
        while self.active < self.max_concurrency:
            ready = store.ready_count
            if not ready:
                break
            if ready < self.max_batch and self.timeout > 0:
                since = store.ready_since()
                assert since is not None
                deadline = since + self.timeout
                if now + _EPSILON < deadline:
                    batch_deadline = deadline
                    break
            self.flush(store.lease(self.max_batch))
        self._batch_timer = self._sync_timer(self._batch_timer, batch_deadline, self._on_batch)
        self._delay_timer = self._sync_timer(self._delay_timer, next_due, self._on_delay)

    def _sync_timer(
        self, timer: TimerHandle | None, when: float | None, callback: Callable[[], None]
    ) -> TimerHandle | None:
        if timer is not None:
            if when is not None and timer.when == when and not timer.cancelled:
                return timer
            timer.cancel()
        if when is None:
            return None
        return self.clock.call_at(when, callback)

    def _on_batch(self) -> None:
        self._batch_timer = None  # fired (a real-clock handle does not mark itself)
        self.pump()

    def _on_delay(self) -> None:
        self._delay_timer = None
        self.pump()

    def flush(self, records: list[StoredMessage]) -> None:
        """Hand one leased batch to the consumer, as a tracked task."""
        if self.check_spent:
            records = self._retire_spent(records)
            if not records:
                return
        self.active += 1
        self.batches += 1
        self.delivered += len(records)
        delivery = _Delivery(self, records)
        self.broker._deliveries.add(delivery)
        delivery.task = self.broker.tracker.spawn(self._deliver(delivery))

    def _retire_spent(self, records: list[StoredMessage]) -> list[StoredMessage]:
        """Dead-letter (or drop) the leased messages whose previous deliveries already used up
        ``max_retries + 1``; returns the others, still to be delivered."""
        limit = self.max_attempts
        keep = [rec for rec in records if rec.attempts <= limit]
        if len(keep) == len(records):
            return records
        spent = [rec for rec in records if rec.attempts > limit]
        for rec in spent:
            rec.attempts -= 1  # this lease delivers nothing: the count stays the failed ones
        dlq = self._apply(spent, [], spent, self.clock.now())
        if dlq is not None:
            dlq.pump()
        return keep

    async def _deliver(self, delivery: _Delivery) -> None:
        records = delivery.records
        broker = self.broker
        crash = broker.faults.take_consumer_crash(self.name) if broker.faults else None
        if crash is not None:
            self.faults += 1
        started = self.clock.now()
        try:
            batch = MessageBatch(
                self.name, records, metadata=self._metadata, crash=crash, log=broker.logger
            )
        except Exception as exc:
            # A body that cannot be deserialized (e.g. a persisted "v8" body whose class is
            # gone) fails the invocation, as it would in the runtime: the batch is retried
            # and, after its last attempt, dead-lettered, instead of wedging the queue.
            broker.logger.error(
                "Queue %r: cannot deserialize a message of the batch: %r", self.name, exc
            )
            batch = MessageBatch(self.name, records, bodies=[None] * len(records))
            delivery.finished = True
            broker._deliveries.discard(delivery)
            self.settle(batch, True, started)
            return
        handler = self.handler
        assert handler is not None
        try:
            if broker._flush_before_delivery and not await self._lease_durable(delivery):
                return
            # Whatever the handler raises (SystemExit included) or a run past the wall-clock
            # limit is a failed invocation; only cfemu's own cancellation propagates.
            failed, error = await run_consumer(
                handler,
                batch,
                queue=self.name,
                clock=self.clock,
                started=started,
                limit=broker.consumer_wall_clock_limit,
                logger=broker.logger,
            )
        except asyncio.CancelledError:
            delivery.finished = True
            broker._deliveries.discard(delivery)
            self.abort(records)
            raise
        except BaseException:
            delivery.finished = True
            broker._deliveries.discard(delivery)
            self.settle(batch, True, started)
            raise
        if error is not None and crash is None:
            broker.logger.error("Consumer of queue %r raised: %r", self.name, error, exc_info=error)
        if crash is not None:
            failed = True  # an injected crash fails the invocation even if the handler caught it
        delivery.finished = True
        broker._deliveries.discard(delivery)
        self.settle(batch, failed, started)

    async def _lease_durable(self, delivery: _Delivery) -> bool:
        """Wait until the lease (and the attempt it counts) is durable, so the handler's side
        effects never happen under an attempt the state does not know. If it cannot be
        written, the delivery never happened: the messages go back to the head of the queue,
        their attempt uncounted, and delivery waits until the store writes again."""
        try:
            await self.broker.store.flush()
        except StoreWriteError as exc:
            broker = self.broker
            records = delivery.records
            delivery.finished = True
            broker._deliveries.discard(delivery)
            self.active -= 1
            self.batches -= 1
            self.delivered -= len(records)
            self.store.unlease(records, self.clock.now(), front=True)
            broker.logger.warning(
                "Queue %r: a batch of %d message(s) was not delivered, its attempt could not "
                "be written (%s); it waits at the head of the queue",
                self.name,
                len(records),
                exc,
            )
            self.pump()
            return False
        return True

    def settle(self, batch: MessageBatch, failed: bool, started: float) -> None:
        """Resolve an invocation's outcome (spec: queues.md §4.2-§4.4) and apply it."""
        now = self.clock.now()
        ack_all = batch._ack_all
        retry_all = batch._retry_all
        all_delay = batch._retry_all_delay
        default_delay = all_delay if retry_all and all_delay is not None else self.retry_delay
        max_attempts = self.max_attempts
        finished: list[StoredMessage] = []
        retried: list[tuple[StoredMessage, float]] = []
        exhausted: list[StoredMessage] = []
        acked = 0
        messages = batch.messages
        if not batch._retries and (ack_all or not (retry_all or failed)):
            # The common outcome: every message acked (explicitly, by ackAll or implicitly).
            finished = [msg._record for msg in messages]
            acked = len(finished)
            messages = []
        for msg in messages:
            verdict = msg._verdict
            rec = msg._record
            if verdict == ACK or (verdict == NONE and (ack_all or not (retry_all or failed))):
                finished.append(rec)
                acked += 1
            elif rec.attempts >= max_attempts:
                finished.append(rec)
                exhausted.append(rec)
            else:
                delay = msg._delay if verdict == RETRY and msg._delay is not None else default_delay
                retried.append((rec, now + delay))
        dlq = self._apply(finished, retried, exhausted, now)
        self.acked += acked
        if failed:
            self.failed_batches += 1
        self.last_settled_at = now
        total = len(batch.messages)
        outcome = f"{total} message{'s' if total != 1 else ''}: {acked} acked"
        if retried:
            outcome += f", {len(retried)} retried"
        if exhausted:
            verb = "dead-lettered" if dlq is not None else "dropped after the last retry"
            outcome += f", {len(exhausted)} {verb}"
        if failed:
            outcome += "; the invocation failed"
        invocation(self.broker.logger, "QUEUE", self.name, outcome, now - started)
        self.active -= 1
        self.pump()
        if dlq is not None:
            dlq.pump()

    def _apply(
        self,
        finished: list[StoredMessage],
        retried: list[tuple[StoredMessage, float]],
        exhausted: list[StoredMessage],
        now: float,
    ) -> _QueueCore | None:
        """Settle messages in the store, atomically with moving the exhausted ones (a subset
        of ``finished``) to the dead-letter queue; log and count. Returns the DLQ's core."""
        dlq = None
        settings = self.settings
        if exhausted and settings is not None and settings.dead_letter_queue is not None:
            dlq = self.broker._core(settings.dead_letter_queue)
        with self.broker.store.transaction():
            self.store.settle(finished, retried, now)
            if dlq is not None:
                dlq.receive_dead_letters(
                    [
                        StoredMessage(r.id, r.sent, r.content_type, r.payload, now)
                        for r in exhausted
                    ],
                    now,
                )
        log = self.broker.logger
        for rec in exhausted:
            if dlq is not None:
                log.warning(
                    'Moving message "%s" on queue "%s" to dead letter queue "%s" after %d '
                    "failed attempts...",
                    rec.id,
                    self.name,
                    dlq.name,
                    rec.attempts,
                )
            else:
                log.warning(
                    'Dropped message "%s" on queue "%s" after %d failed attempts!',
                    rec.id,
                    self.name,
                    rec.attempts,
                )
        self.retried += len(retried)
        if dlq is not None:
            self.dead_lettered += len(exhausted)
        else:
            self.dropped += len(exhausted)
        return dlq

    def abort(self, records: list[StoredMessage]) -> None:
        """A delivery was cancelled (shutdown): like a crash, it counts as a failed attempt."""
        self.active -= 1
        self.failed_batches += 1
        self._interrupted([rec for rec in records if rec.state == IN_FLIGHT])
        self.pump()

    def recover(self) -> None:
        """Messages a previous process had in flight when it stopped (restored by a persistent
        store): that delivery counts as a failed attempt. Runs when the consumer is attached
        (its ``max_retries`` and dead-letter queue decide), or at start for a queue without one."""
        records = list(self.store.iter_in_flight())
        if not records:
            return
        self.broker.logger.warning(
            'Queue "%s": %d message(s) were in flight when cfemu stopped; that delivery counts '
            "as a failed attempt",
            self.name,
            len(records),
        )
        self._interrupted(records)

    def _interrupted(self, records: list[StoredMessage]) -> None:
        """Deliveries that never finished: retried after ``retry_delay``, or dead-lettered
        (dropped) when that was the last attempt allowed."""
        if not records:
            return
        now = self.clock.now()
        due = now + self.retry_delay
        if self.settings is None:
            exhausted: list[StoredMessage] = []
            retried = [(rec, due) for rec in records]
        else:
            limit = self.max_attempts
            exhausted = [rec for rec in records if rec.attempts >= limit]
            retried = [(rec, due) for rec in records if rec.attempts < limit]
        dlq = self._apply(exhausted, retried, exhausted, now)
        if dlq is not None:
            dlq.pump()

    def check_send_fault(self) -> None:
        """The ``queue.send`` injection point (before anything is enqueued)."""
        try:
            self.broker.faults.check("queue.send", self.name)
        except BaseException:
            self.faults += 1
            raise

    def refresh(self) -> None:
        """Without a consumer no timer promotes delayed messages; inspection does it."""
        if self.handler is None:
            self.store.promote(self.clock.now())

    def cancel_timers(self) -> None:
        self._batch_timer = self._sync_timer(self._batch_timer, None, self._on_batch)
        self._delay_timer = self._sync_timer(self._delay_timer, None, self._on_delay)

    # --- reads ---------------------------------------------------------------------------------
    def metrics(self) -> JsDict:
        """Cloudflare's queue metrics object."""
        store = self.store
        oldest = store.oldest_timestamp_ms()
        return JsDict(
            backlogCount=store.ready_count + store.delayed_count + store.in_flight_count,
            backlogBytes=store.backlog_bytes,
            oldestMessageTimestamp=None if oldest is None else _utc(oldest / 1000),
        )

    def _metadata(self) -> JsDict:
        return JsDict(metrics=self.metrics())

    def stats(self) -> QueueStats:
        self.refresh()
        store = self.store
        ready, delayed, in_flight = store.ready_count, store.delayed_count, store.in_flight_count
        processed = self.acked + self.dead_lettered + self.dropped
        rate: float | None = None
        if self.first_at is not None and self.last_settled_at is not None:
            elapsed = self.last_settled_at - self.first_at
            if elapsed > 0:
                rate = processed / elapsed
        return QueueStats(
            queue=self.name,
            depth=ready,
            delayed=delayed,
            in_flight=in_flight,
            backlog=ready + delayed + in_flight,
            backlog_bytes=store.backlog_bytes,
            sent=self.sent,
            moved_in=self.moved_in,
            delivered=self.delivered,
            acked=self.acked,
            retried=self.retried,
            dead_lettered=self.dead_lettered,
            dropped=self.dropped,
            batches=self.batches,
            failed_batches=self.failed_batches,
            faults=self.faults,
            processing_rate=rate,
        )

    def is_settled(self) -> bool:
        store = self.store
        if store.in_flight_count:
            return False
        if self.handler is None or self.paused:
            return True  # nothing can be delivered: messages stay queued, visibly
        return not (store.ready_count or store.delayed_count)


class Broker:
    """Every queue of one emulator, their consumers and producers.

    ``Broker(clock, tracker, faults=None, logger=None)``; ``store`` defaults to a fresh
    :class:`~cfemu.queues.store.MemoryStore`. With ``store_path``, queues live in a
    :class:`~cfemu.queues.sqlite_store.SqliteStore` at that path (created if new, recovered
    if not; the broker closes it in :meth:`aclose`): a message is durable when ``send``
    returns, and messages a previous process had in flight count that delivery as a failed
    attempt (see ``docs/persistence.md``).
    """

    def __init__(
        self,
        clock: Clock,
        tracker: TaskTracker,
        faults: Faults | None = None,
        logger: logging.Logger | None = None,
        *,
        store: MessageStore | None = None,
        store_path: Path | str | None = None,
    ) -> None:
        self.clock = clock
        self.tracker = tracker
        self.faults: Faults = faults if faults is not None else Faults()
        self.logger = logger if logger is not None else logging.getLogger("cfemu.queues")
        self.store_path = None if store_path is None else Path(store_path)
        self._owned_store: SqliteStore | None = None
        if store is None:
            if self.store_path is not None:
                from cfemu.queues.sqlite_store import SqliteStore

                store = self._owned_store = SqliteStore(self.store_path, clock)
            else:
                store = MemoryStore()
        self.store: MessageStore = store
        self._flush_before_delivery = not isinstance(store, MemoryStore)
        store.notify_writable(self._resume)
        self.closed = False
        self._cores: dict[str, _QueueCore] = {}
        self._views: dict[str, QueueView] = {}
        self._consumer_names: dict[str, str | None] = {}
        self._deliveries: set[_Delivery] = set()
        self.queues: Mapping[str, QueueView] = MappingProxyType(self._views)
        """Inspection views by queue name (read-only mapping)."""
        self.consumer_wall_clock_limit: float | None = limits.CONSUMER_WALL_CLOCK_LIMIT_SECONDS
        """Seconds (on the clock) a consumer invocation may run before it is ended as a
        failed attempt; Cloudflare's 15 minutes unless a test sets less (``None``: no limit)."""

    def _core(self, name: str) -> _QueueCore:
        core = self._cores.get(name)
        if core is None:
            core = _QueueCore(self, name, self.store.open_queue(name))
            self._cores[name] = core
            self._views[name] = core.view
        return core

    def declare_queue(self, name: str) -> QueueView:
        """Make queue ``name`` exist (idempotent) and return its view."""
        if not isinstance(name, str) or not name:
            raise QueueError(f"queue name must be a non-empty string, got {name!r}")
        return self._core(name).view

    def set_consumer(
        self,
        queue: str,
        settings: ConsumerSettings,
        handler: QueueHandler,
        *,
        name: str | None = None,
    ) -> None:
        """Attach the consumer of ``queue`` (one per queue). ``name`` (the consuming Worker)
        only improves error messages. Its dead-letter queue is declared too."""
        core = self._core(queue)
        if core.handler is not None or core.pull is not None:
            first = self._consumer_names.get(queue)
            who = f': "{first}" and "{name}"' if first and name else ""
            raise QueueError(f'Multiple consumers defined for queue "{queue}"{who}')
        if settings.dead_letter_queue == queue:
            raise QueueError(f'Dead letter queue for queue "{queue}" cannot be itself')
        if settings.dead_letter_queue is not None:
            self.declare_queue(settings.dead_letter_queue)
        self._consumer_names[queue] = name
        core.attach(settings, handler)

    def set_pull_consumer(self, queue: str, settings: PullSettings) -> PullConsumer:
        """Give ``queue`` an HTTP pull consumer (``QueueError`` if it has a consumer)."""
        from cfemu.queues.pull import PullConsumer

        core = self._core(queue)
        if core.handler is not None or core.pull is not None:
            raise QueueError(f'Queue "{queue}" already has a consumer')
        if settings.dead_letter_queue == queue:
            raise QueueError(f'Dead letter queue for queue "{queue}" cannot be itself')
        if settings.dead_letter_queue is not None:
            self.declare_queue(settings.dead_letter_queue)
        consumer = core.pull = PullConsumer(core, settings)
        core.attach(settings.consumer_settings(), None)
        return consumer

    def pull_consumer(self, queue: str) -> PullConsumer | None:
        """The HTTP pull consumer of ``queue``, if it has one."""
        core = self._cores.get(queue)
        return None if core is None else core.pull

    def remove_pull_consumer(self, queue: str) -> None:
        """Remove ``queue``'s pull consumer; its leased messages go back to the queue, that
        delivery counted as a failed attempt."""
        core = self._cores.get(queue)
        if core is None or core.pull is None:
            raise QueueError(f'Queue "{queue}" has no pull consumer')
        core.pull.close()
        core.pull = None
        core._interrupted(list(core.store.iter_in_flight()))
        core.settings = None
        core.max_attempts = limits.DEFAULT_MAX_RETRIES + 1
        core.retry_delay = 0

    def pause(self, queue: str) -> None:
        """Pause delivery: ``queue`` keeps accepting messages, nothing is delivered or
        pulled until :meth:`resume` (batches already in flight finish)."""
        self._core(queue).paused = True

    def resume(self, queue: str) -> None:
        """Resume delivery of a paused queue."""
        core = self._core(queue)
        core.paused = False
        core.pump()

    def purge(self, queue: str) -> int:
        """Delete every ready and delayed message of ``queue`` (messages in flight finish
        their delivery); returns how many were deleted."""
        core = self._core(queue)
        store = core.store
        with self.store.transaction():
            store.promote(float("inf"))
            records = store.lease(store.ready_count)
            store.settle(records, [], self.clock.now())
        core.pump()
        return len(records)

    def producer(
        self, queue: str, delivery_delay: int = 0, compat: Compat | None = None
    ) -> QueueProducer:
        """The ``env`` binding that sends to ``queue`` (declared if new). ``compat`` is the
        sending Worker's compatibility (default content type, error wording; default: the
        newest)."""
        _check_range("delivery_delay", delivery_delay, 0, limits.MAX_DELAY_SECONDS)
        if not float(delivery_delay).is_integer():
            raise ValueError(
                f"delivery_delay must be a whole number of seconds, got {delivery_delay}"
            )
        self.declare_queue(queue)
        return QueueProducer(self._cores[queue], delivery_delay, compat)

    def start(self) -> None:
        """Deliver whatever is already queued (consumers attached before start, restored
        state). Attaching a consumer starts its queue anyway; calling this twice is harmless.
        Restored in-flight messages of queues without a consumer go back to the queue, the
        interrupted delivery counted."""
        for core in list(self._cores.values()):
            if core.handler is None and not core.active:
                core.recover()
            core.pump()

    def _resume(self) -> None:
        """The store writes again after failing: deliver what waited meanwhile."""
        for core in list(self._cores.values()):
            core.pump()

    def is_settled(self) -> bool:
        """True when nothing is in flight and no consumed queue holds a message (ready or
        delayed). Messages on a queue without a consumer do not count: they cannot move."""
        if not self.store.writable:
            return False  # transitions wait to be written (retried on the clock)
        return all(core.is_settled() for core in self._cores.values())

    def __iter__(self) -> Iterator[str]:
        return iter(self._cores)

    async def aclose(self, *, grace_seconds: float = 0.0) -> None:
        """Stop delivering: no new batch starts and timers are cancelled. Batches in flight
        get ``grace_seconds`` of real time to finish (their outcome settles as usual); those
        still running then are cancelled and, as after a crash, that delivery counts as a
        failed attempt (messages are retried, or dead-lettered when it was their last). A
        store the broker opened from ``store_path`` is committed and closed."""
        self.closed = True
        for core in self._cores.values():
            core.cancel_timers()
            if core.pull is not None:
                core.pull.close()
        running = [d.task for d in self._deliveries if d.task is not None]
        if running and grace_seconds > 0:
            await asyncio.wait(running, timeout=grace_seconds)
        pending = list(self._deliveries)
        tasks = [d.task for d in pending if d.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for delivery in pending:
            # A task cancelled before it ever ran skipped _deliver's handlers entirely.
            if not delivery.finished:
                delivery.finished = True
                self._deliveries.discard(delivery)
                delivery.core.abort(delivery.records)
        if self._owned_store is not None:
            try:
                self._owned_store.close()
            except StateError as exc:
                # The file keeps its last committed state: sends were all confirmed durable,
                # and transitions since then are replayed as a crash would (at least once).
                self.logger.error("Queue state could not be written on close: %s", exc)
