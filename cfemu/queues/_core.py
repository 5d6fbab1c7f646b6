"""The delivery state machine of one queue (:class:`_QueueCore`).

Messages move through the states of :mod:`cfemu.queues.store` with named transitions:
:meth:`~_QueueCore.send`, :meth:`~_QueueCore.pump` (promote due delayed messages, arm timers,
:meth:`~_QueueCore.flush` full or timed-out batches) and :meth:`~_QueueCore.settle` (resolve
an invocation's outcome; spec: queues.md §4.2-§4.4). The invocation itself is
:func:`cfemu.queues._delivery.deliver`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Final

from cfemu import limits
from cfemu._js import JsDict
from cfemu._log import invocation
from cfemu.clock import TimerHandle
from cfemu.errors import QueueSendError
from cfemu.queues._codec import fit
from cfemu.queues._delivery import _Delivery, deliver
from cfemu.queues.message import ACK, NONE, RETRY, MessageBatch
from cfemu.queues.settings import ConsumerSettings, QueueHandler
from cfemu.queues.store import (
    IN_FLIGHT,
    QueueStore,
    StoredMessage,
    StoreWriteError,
    UniformBatch,
)
from cfemu.queues.views import QueueView, utc

if TYPE_CHECKING:
    from cfemu.queues.broker import Broker
    from cfemu.queues.pull import PullConsumer

_EPSILON: Final = 1e-6  # a real-clock timer may fire a hair early


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
        if type(records) is UniformBatch and records.ids is not None:
            if self._take_at_once(records, now):
                return
            records.fill()
        try:
            await self.broker.store.add(self.store, records, now, partial(self._sent, records, now))
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

    def _take_at_once(self, batch: UniformBatch, now: float) -> bool:
        """Deliver a pending ``sendBatch`` as it is queued, when the consumer would lease
        exactly it at once (what :meth:`pump` would do: nothing ready or due before it, room
        for a delivery, the whole batch in one lease without waiting for the batch
        timeout), so that no :class:`StoredMessage` is made for a message that never waits
        (the store makes them only if something needs them one by one). False: nothing
        done, the batch is queued as usual."""
        n = len(batch.ids or ())
        if (
            self.handler is None
            or self.paused
            or self.check_spent
            or self.active >= self.max_concurrency
            or n > self.max_batch
            or (n < self.max_batch and self.timeout > 0)
            or batch.due > now
        ):
            return False
        broker = self.broker
        store = self.store
        if broker.closed or broker._flush_before_delivery or store.ready_count:
            return False
        next_due = store.next_due()
        if (next_due is not None and next_due <= now) or not store.lease_sent(batch):
            return False
        self.sent += n
        if self.first_at is None:
            self.first_at = now
        self._start(batch, n)
        # The timers as ``pump`` leaves them: nothing ready, the next delayed message's due.
        self._batch_timer = self._sync_timer(self._batch_timer, None, self._on_batch)
        self._delay_timer = self._sync_timer(self._delay_timer, next_due, self._on_delay)
        return True

    def _sent(self, records: Sequence[StoredMessage], now: float) -> None:
        """The store queued ``records``, new messages (they are durable)."""
        self.sent += len(records)
        if self.first_at is None:
            self.first_at = now
        if self.handler is not None:
            self.pump()
        if type(records) is UniformBatch:
            records.fit_waiting()  # what the consumer did not take at once waits: fit it

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
        self._start(records, len(records))

    def _start(self, records: list[StoredMessage], count: int) -> None:
        """Run a delivery of ``count`` leased messages, as a tracked task."""
        self.active += 1
        self.batches += 1
        self.delivered += count
        delivery = _Delivery(self, records)
        self.broker._deliveries.add(delivery)
        delivery.task = self.broker.tracker.spawn(deliver(self, delivery))

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

    def settle(self, batch: MessageBatch, failed: bool, started: float) -> None:
        """Resolve an invocation's outcome (spec: queues.md §4.2-§4.4) and apply it."""
        now = self.clock.now()
        decisions = batch._decisions
        ack_all = decisions.ack_all
        retry_all = decisions.retry_all
        all_delay = decisions.retry_delay
        default_delay = all_delay if retry_all and all_delay is not None else self.retry_delay
        max_attempts = self.max_attempts
        finished: list[StoredMessage] = []
        retried: list[tuple[StoredMessage, float]] = []
        exhausted: list[StoredMessage] = []
        acked = 0
        records = batch._records
        if not decisions.retries and (ack_all or not (retry_all or failed)):
            # The common outcome: every message acked (explicitly, by ackAll or implicitly).
            # The lease itself (not a copy): the store drops a whole lease at once.
            finished = records if isinstance(records, list) else list(records)
            acked = len(batch.messages)
        else:
            if type(records) is UniformBatch:
                records.fill_in_flight()  # leased as sent: its messages are needed one by one
            for msg, rec in zip(batch.messages, records, strict=True):
                verdict = msg._verdict
                if verdict == ACK or (verdict == NONE and (ack_all or not (retry_all or failed))):
                    finished.append(rec)
                    acked += 1
                elif rec.attempts >= max_attempts:
                    finished.append(rec)
                    exhausted.append(rec)
                else:
                    delay = (
                        msg._delay if verdict == RETRY and msg._delay is not None else default_delay
                    )
                    retried.append((rec, now + delay))
        dlq = self._apply(finished, retried, exhausted, now)
        self.acked += acked
        if failed:
            self.failed_batches += 1
        self.last_settled_at = now
        log = self.broker.logger
        if log.isEnabledFor(logging.INFO):  # the line is only worded when it is shown
            total = len(batch.messages)
            outcome = f"{total} message{'s' if total != 1 else ''}: {acked} acked"
            if retried:
                outcome += f", {len(retried)} retried"
            if exhausted:
                verb = "dead-lettered" if dlq is not None else "dropped after the last retry"
                outcome += f", {len(exhausted)} {verb}"
            if failed:
                outcome += "; the invocation failed"
            invocation(log, "QUEUE", self.name, outcome, now - started)
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
                        StoredMessage(r.id, r.sent, r.content_type, fit(r.payload), now)
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
        if type(records) is UniformBatch:
            records.fill_in_flight()
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
            oldestMessageTimestamp=None if oldest is None else utc(oldest / 1000),
        )

    def _metadata(self) -> JsDict:
        return JsDict(metrics=self.metrics())

    def is_settled(self) -> bool:
        store = self.store
        if store.in_flight_count:
            return False
        if self.handler is None or self.paused:
            return True  # nothing can be delivered: messages stay queued, visibly
        return not (store.ready_count or store.delayed_count)
