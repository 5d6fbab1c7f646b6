"""The queue broker: every queue of an emulator, its consumer, producers and views.

One :class:`Broker` serves every queue of an emulator. Per queue, a small state machine
(:class:`cfemu.queues._core._QueueCore`) moves messages through the states of
:mod:`cfemu.queues.store` with named transitions (send, pump, flush, settle); each
consumer invocation is :func:`cfemu.queues._delivery.deliver`, run as a task on the
emulator's :class:`~cfemu._tasks.TaskTracker`; every timer comes from the clock, so under a
:class:`~cfemu.clock.VirtualClock` nothing sleeps. Production semantics throughout (spec:
queues.md §4); the emulator-only choice is ``max_concurrency`` defaulting to 1.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from cfemu import limits
from cfemu._faults import Faults
from cfemu._tasks import TaskTracker
from cfemu.clock import Clock
from cfemu.compat import Compat
from cfemu.errors import QueueError, StateError
from cfemu.queues._core import _QueueCore
from cfemu.queues._delivery import _Delivery
from cfemu.queues._invoke import Watchdog
from cfemu.queues.producer import QueueProducer
from cfemu.queues.settings import ConsumerSettings, QueueHandler, check_range
from cfemu.queues.store import MemoryStore, MessageStore, StoredMessage
from cfemu.queues.views import QueuedMessage, QueueStats, QueueView

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
        self._watchdog = Watchdog(clock)
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

    def _declare_dead_letter_queue(self, name: str) -> None:
        """Declare a consumer's dead-letter queue, indexing its messages by id so that a
        selective redrive (:meth:`move` with ids) costs what it moves."""
        self.declare_queue(name)
        self._core(name).store.index_ids()

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
            self._declare_dead_letter_queue(settings.dead_letter_queue)
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
            self._declare_dead_letter_queue(settings.dead_letter_queue)
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

    def move(self, source: str, target: str, ids: Collection[str] | None = None) -> int:
        """Move ``source``'s ready and delayed messages (only those whose id is in ``ids``,
        when given, in that order, at a cost of O(len(ids))) to ``target``, ready at once,
        atomically; returns how many moved.
        Messages in flight stay. Moved messages keep id, body and send time; their attempts
        start afresh (what a redrive does: :func:`cfemu.queues.redrive.redrive`)."""
        if source == target:
            raise QueueError(f'Cannot move the messages of queue "{source}" into itself')
        src, dest = self._core(source), self._core(target)
        store, now = src.store, self.clock.now()
        with self.store.transaction():
            if ids is None:
                store.promote(float("inf"))
                chosen = store.lease(store.ready_count)
                store.settle(chosen, [], now)
            else:
                # O(len(ids)): looked up in the queue's id index (a dead-letter queue keeps
                # one), never a walk of the queue; they arrive in the order of ``ids``.
                chosen = store.take(dict.fromkeys(ids))
            fresh = [StoredMessage(r.id, r.sent, r.content_type, r.payload, now) for r in chosen]
            dest.store.enqueue(fresh, now)
        dest.moved_in += len(chosen)
        src.pump()
        dest.pump()
        return len(chosen)

    def producer(
        self, queue: str, delivery_delay: int = 0, compat: Compat | None = None
    ) -> QueueProducer:
        """The ``env`` binding that sends to ``queue`` (declared if new). ``compat`` is the
        sending Worker's compatibility (default content type, error wording; default: the
        newest)."""
        check_range("delivery_delay", delivery_delay, 0, limits.MAX_DELAY_SECONDS)
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
        self._watchdog.close()
        if self._owned_store is not None:
            try:
                self._owned_store.close()
            except StateError as exc:
                # The file keeps its last committed state: sends were all confirmed durable,
                # and transitions since then are replayed as a crash would (at least once).
                self.logger.error("Queue state could not be written on close: %s", exc)
