"""HTTP pull consumers: leases, visibility timeouts, explicit acks and retries.

A queue consumed over HTTP (spec: rest-api.md §3.2-§4) has an :class:`PullConsumer` instead
of a push handler. :meth:`PullConsumer.pull` leases up to ``batch_size`` ready messages for
``visibility_timeout_ms``; each gets a ``lease_id``. :meth:`PullConsumer.ack` acks or retries
leases. A lease that expires returns its message to the queue, and that delivery counts as a
failed attempt - the same rule as a push consumer invocation that never finished (Cloudflare
leaves this point unconfirmed; cfemu's choice, documented in docs/rest-api.md). After its
last attempt a message goes to the dead-letter queue, or is dropped.

Leases live in memory: after a restart, messages a previous process had leased count that
delivery as a failed attempt (the broker's crash rule), so their old leases no longer exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Final

from cfemu import limits
from cfemu.clock import TimerHandle
from cfemu.errors import QueueError
from cfemu.queues.store import IN_FLIGHT, StoredMessage, StoreWriteError

if TYPE_CHECKING:
    from cfemu.queues._core import _QueueCore
    from cfemu.queues.settings import ConsumerSettings

__all__ = [
    "DEFAULT_PULL_BATCH_SIZE",
    "DEFAULT_VISIBILITY_TIMEOUT_MS",
    "AckResult",
    "DeliveryPausedError",
    "PullConsumer",
    "PullSettings",
    "PulledMessage",
]

#: ``batch_size`` of a pull that names none (spec: rest-api.md §3.2).
DEFAULT_PULL_BATCH_SIZE: Final = 5
#: Most messages one pull may lease.
MAX_PULL_BATCH_SIZE: Final = 100
#: ``visibility_timeout_ms`` of a pull that names none: 30 s.
DEFAULT_VISIBILITY_TIMEOUT_MS: Final = 30_000
#: The longest lease: 12 hours.
MAX_VISIBILITY_TIMEOUT_MS: Final = 43_200_000


class DeliveryPausedError(QueueError):
    """A pull from a queue whose delivery is paused (REST: 409 ``queue_delivery_paused``)."""


@dataclass(frozen=True)
class PullSettings:
    """An ``http_pull`` consumer's settings, with Cloudflare's defaults and ranges."""

    batch_size: int = DEFAULT_PULL_BATCH_SIZE
    max_retries: int = limits.DEFAULT_MAX_RETRIES
    retry_delay: int = 0
    visibility_timeout_ms: int = DEFAULT_VISIBILITY_TIMEOUT_MS
    dead_letter_queue: str | None = None

    def __post_init__(self) -> None:
        for name, low, high in (
            ("batch_size", 1, MAX_PULL_BATCH_SIZE),
            ("max_retries", 0, limits.MAX_MAX_RETRIES),
            ("retry_delay", 0, limits.MAX_DELAY_SECONDS),
            ("visibility_timeout_ms", 1, MAX_VISIBILITY_TIMEOUT_MS),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise QueueError(
                    f"{name} must be a whole number from {low} to {high}, got {value!r}"
                )

    def consumer_settings(self) -> ConsumerSettings:
        """The broker's settings for the queue (retries, dead-letter queue, retry delay)."""
        from cfemu.queues.settings import ConsumerSettings

        return ConsumerSettings(
            max_batch_size=self.batch_size,
            max_retries=self.max_retries,
            dead_letter_queue=self.dead_letter_queue,
            retry_delay=self.retry_delay,
        )


@dataclass(frozen=True)
class PulledMessage:
    """One leased message, as a pull returns it."""

    id: str
    lease_id: str
    attempts: int
    timestamp_ms: int
    content_type: str
    payload: bytes | str
    """The serialized body (text as ``str``; JSON, bytes and v8 as bytes)."""


@dataclass
class AckResult:
    """What an ack call did: counts, and a warning per lease it could not use."""

    ack_count: int = 0
    retry_count: int = 0
    warnings: dict[str, str] = field(default_factory=dict)


@dataclass
class _Lease:
    record: StoredMessage
    timer: TimerHandle


class PullConsumer:
    """The HTTP pull consumer of one queue (``broker.set_pull_consumer(queue, settings)``)."""

    def __init__(self, core: _QueueCore, settings: PullSettings) -> None:
        self._core = core
        self.settings = settings
        self._leases: dict[str, _Lease] = {}

    @property
    def queue(self) -> str:
        """The queue this consumer pulls from."""
        return self._core.name

    @property
    def leased(self) -> int:
        """How many messages are leased right now."""
        return len(self._leases)

    def backlog_count(self) -> int:
        """Messages in the queue, leased ones included (``message_backlog_count``)."""
        store = self._core.store
        return store.ready_count + store.delayed_count + store.in_flight_count

    async def pull(
        self, batch_size: int | None = None, visibility_timeout_ms: int | None = None
    ) -> list[PulledMessage]:
        """Lease up to ``batch_size`` ready messages for ``visibility_timeout_ms``.

        Returns at once (no long polling): an empty list when nothing is ready. The leases'
        attempts are durable before this returns, as a push delivery's are.
        """
        core = self._core
        if core.paused:
            raise DeliveryPausedError("queue_delivery_paused")
        size = self.settings.batch_size if batch_size is None else batch_size
        timeout_ms = (
            self.settings.visibility_timeout_ms
            if visibility_timeout_ms is None
            else visibility_timeout_ms
        )
        PullSettings(batch_size=size, visibility_timeout_ms=timeout_ms)  # range checks
        broker = core.broker
        if broker.closed:
            return []
        if not broker.store.writable:
            raise StoreWriteError("queue state cannot be written right now; pull again later")
        clock = core.clock
        now = clock.now()
        store = core.store
        store.promote(now)
        records = store.lease(size)
        if not records:
            return []
        core.delivered += len(records)
        core.batches += 1
        try:
            await broker.store.flush()
        except StoreWriteError:
            # The lease could not be written: it is not an attempt, as for a push delivery.
            core.delivered -= len(records)
            core.batches -= 1
            store.unlease(records, clock.now(), front=True)
            raise
        expires = clock.now() + timeout_ms / 1000
        pulled = []
        for rec in records:
            lease_id = uuid.uuid4().hex
            timer = clock.call_at(expires, partial(self._expire, lease_id))
            self._leases[lease_id] = _Lease(rec, timer)
            pulled.append(
                PulledMessage(
                    rec.id, lease_id, rec.attempts, rec.timestamp_ms, rec.content_type, rec.payload
                )
            )
        return pulled

    def ack(self, acks: list[str], retries: list[tuple[str, float | None]]) -> AckResult:
        """Ack leases, and retry others (after their ``delay_seconds``, else the consumer's
        ``retry_delay``); a retry of a message on its last attempt dead-letters it.

        A lease that is unknown, expired or already used gets a warning and changes nothing.
        """
        core = self._core
        now = core.clock.now()
        result = AckResult()
        finished: list[StoredMessage] = []
        retried: list[tuple[StoredMessage, float]] = []
        exhausted: list[StoredMessage] = []
        for lease_id in acks:
            rec = self._take(lease_id, result)
            if rec is not None:
                finished.append(rec)
                result.ack_count += 1
        for lease_id, delay in retries:
            rec = self._take(lease_id, result)
            if rec is None:
                continue
            result.retry_count += 1
            if rec.attempts >= core.max_attempts:
                finished.append(rec)
                exhausted.append(rec)
            else:
                wait = core.retry_delay if delay is None else delay
                retried.append((rec, now + wait))
        if finished or retried:
            dlq = core._apply(finished, retried, exhausted, now)
            core.acked += result.ack_count
            if dlq is not None:
                dlq.pump()
        return result

    def _take(self, lease_id: str, result: AckResult) -> StoredMessage | None:
        lease = self._leases.pop(lease_id, None)
        if lease is None:
            result.warnings[lease_id] = "lease not found: it expired, or was already acked"
            return None
        lease.timer.cancel()
        if lease.record.state != IN_FLIGHT:
            result.warnings[lease_id] = "message is no longer leased"
            return None
        return lease.record

    def _expire(self, lease_id: str) -> None:
        lease = self._leases.pop(lease_id, None)
        if lease is not None and lease.record.state == IN_FLIGHT:
            self._core._interrupted([lease.record])

    def close(self) -> None:
        """Cancel the lease timers (the emulator is closing; leased messages stay in flight
        in the store, and count a failed attempt when the queue is next opened)."""
        for lease in self._leases.values():
            lease.timer.cancel()
        self._leases.clear()
