"""Read-only inspection of queues: :class:`QueueView`, its :class:`QueueStats` and
:class:`QueuedMessage` snapshots (``broker.queues[name]``, ``emulator.queues[name]``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cfemu._js import JsDict
from cfemu.queues._codec import decode
from cfemu.queues.settings import ConsumerSettings
from cfemu.queues.store import DELAYED, StoredMessage

if TYPE_CHECKING:
    from cfemu.queues._core import _QueueCore

__all__ = ["QueueStats", "QueueView", "QueuedMessage", "utc"]


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


def utc(seconds: float) -> datetime:
    """A POSIX time in seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


def _snapshot(rec: StoredMessage, state: str) -> QueuedMessage:
    return QueuedMessage(
        id=rec.id,
        timestamp=utc(rec.timestamp_ms / 1000),
        body=decode(rec.content_type, rec.payload),
        content_type=rec.content_type,
        attempts=rec.attempts,
        size=rec.size,
        state=state,
        due=utc(rec.due) if rec.state == DELAYED else None,
    )


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

    def peek(
        self,
        states: Sequence[str] = ("in_flight", "ready", "delayed"),
        *,
        offset: int = 0,
        limit: int = 100,
    ) -> list[QueuedMessage]:
        """One page of :meth:`messages` (of ``states`` only, in that order): at most ``limit``
        after the first ``offset``, read and decoded in O(offset + limit), not O(queue)."""
        from cfemu.queues.pages import STATE_NAMES, page_across

        self._core.refresh()
        codes = [STATE_NAMES[state] for state in states]
        names = {code: name for name, code in STATE_NAMES.items()}
        found = page_across(self._core.store, codes, offset, limit)
        return [_snapshot(rec, names[rec.state]) for rec in found]

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
        return _stats(self._core)

    def __len__(self) -> int:
        """The backlog: messages ready, delayed and in flight."""
        store = self._core.store
        return store.ready_count + store.delayed_count + store.in_flight_count

    def __repr__(self) -> str:
        return f"<QueueView {self.name!r} depth={len(self)}>"


def _stats(core: _QueueCore) -> QueueStats:
    core.refresh()
    store = core.store
    ready, delayed, in_flight = store.ready_count, store.delayed_count, store.in_flight_count
    processed = core.acked + core.dead_lettered + core.dropped
    rate: float | None = None
    if core.first_at is not None and core.last_settled_at is not None:
        elapsed = core.last_settled_at - core.first_at
        if elapsed > 0:
            rate = processed / elapsed
    return QueueStats(
        queue=core.name,
        depth=ready,
        delayed=delayed,
        in_flight=in_flight,
        backlog=ready + delayed + in_flight,
        backlog_bytes=store.backlog_bytes,
        sent=core.sent,
        moved_in=core.moved_in,
        delivered=core.delivered,
        acked=core.acked,
        retried=core.retried,
        dead_lettered=core.dead_lettered,
        dropped=core.dropped,
        batches=core.batches,
        failed_batches=core.failed_batches,
        faults=core.faults,
        processing_rate=rate,
    )
