"""The storage seam's interfaces: :class:`QueueStore` (one queue's messages and their
transitions) and :class:`MessageStore` (every queue's, the unit of atomicity and
durability). :mod:`cfemu.queues.store` has the states, :class:`StoredMessage` and the
in-memory implementations (and re-exports these two); the SQLite store implements them in
:mod:`cfemu.queues.sqlite_store`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cfemu.queues.store import StoredMessage, UniformBatch

__all__ = ["MessageStore", "QueueStore"]


class QueueStore(Protocol):
    """The messages of one queue, and the transitions between their states.

    Implementations must keep each transition O(moved messages), never O(queue size).
    """

    __slots__ = ()

    @property
    def name(self) -> str:
        """The queue's name."""
        ...

    # --- transitions -----------------------------------------------------------------------
    def enqueue(self, messages: Sequence[StoredMessage], now: float) -> None:
        """New messages: READY if ``due <= now``, else DELAYED until ``due``."""
        ...

    def promote(self, now: float) -> int:
        """DELAYED → READY for every message due by ``now``; returns how many moved."""
        ...

    def lease(self, limit: int) -> list[StoredMessage]:
        """READY → IN_FLIGHT for up to ``limit`` oldest-ready messages; ``attempts += 1``."""
        ...

    def lease_sent(self, batch: UniformBatch) -> bool:
        """NEW → IN_FLIGHT for a whole pending ``sendBatch``
        (:func:`~cfemu.queues.stored_message.sent_batch`) that the consumer leases as it is
        queued: ready now, nothing ready or due before it, ``attempts`` 1. Returns False
        (the default: nothing done) when the store does not do this; the caller then fills
        the batch and queues it with :meth:`MessageStore.add`."""
        return False

    def settle(
        self,
        finished: Iterable[StoredMessage],
        retried: Iterable[tuple[StoredMessage, float]],
        now: float,
    ) -> None:
        """IN_FLIGHT → DONE (``finished``: acked, dead-lettered, dropped) or back to
        READY/DELAYED (``retried``: ``(message, due)``)."""
        ...

    def unlease(
        self, messages: Iterable[StoredMessage], now: float, *, front: bool = False
    ) -> None:
        """IN_FLIGHT → READY without counting the attempt (a delivery aborted on shutdown, or
        whose lease could not be written). ``front``: back at the head of the ready messages,
        keeping their place (else at the tail, ready since ``now``)."""
        ...

    def index_ids(self) -> None:
        """Keep an index of the queue's messages by id from now on (a dead-letter queue
        does), so that :meth:`take` costs what it takes; idempotent."""
        ...

    def take(self, ids: Iterable[str]) -> list[StoredMessage]:
        """READY/DELAYED → DONE for the messages whose id is in ``ids`` (a selective
        redrive); those in flight, done or unknown are skipped. Returns the messages taken,
        each once. O(len(ids)) once :meth:`index_ids` was called."""
        ...

    # --- reads -----------------------------------------------------------------------------
    @property
    def ready_count(self) -> int:
        """Messages ready for delivery."""
        ...

    @property
    def delayed_count(self) -> int:
        """Messages waiting for their delay to end."""
        ...

    @property
    def in_flight_count(self) -> int:
        """Messages in a batch whose handler is running."""
        ...

    @property
    def backlog_bytes(self) -> int:
        """Serialized size of every message not yet done."""
        ...

    def ready_since(self) -> float | None:
        """When the oldest ready message became ready (``None``: nothing is ready)."""
        ...

    def next_due(self) -> float | None:
        """Earliest ``due`` among delayed messages (``None``: nothing is delayed)."""
        ...

    def oldest_timestamp_ms(self) -> int | None:
        """Send time of the oldest message not yet done."""
        ...

    def iter_ready(self) -> Iterator[StoredMessage]:
        """Ready messages, in delivery order (for inspection)."""
        ...

    def iter_delayed(self) -> Iterator[StoredMessage]:
        """Delayed messages, earliest due first (for inspection)."""
        ...

    def iter_in_flight(self) -> Iterator[StoredMessage]:
        """In-flight messages (for inspection)."""
        ...

    def page(self, state: int, start: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages in ``state`` (``READY``, ``DELAYED``, ``IN_FLIGHT``) after
        the first ``start``, in the order of ``iter_*``: O(start + limit), not O(queue)."""
        ...


class MessageStore(Protocol):
    """All queues' messages; the unit of atomicity and durability."""

    __slots__ = ()

    def open_queue(self, name: str) -> QueueStore:
        """The store of queue ``name`` (created empty if new; idempotent)."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Group the transitions made inside into one atomic unit."""
        ...

    async def flush(self) -> None:
        """Return once every transition made so far is durable (no-op in memory); raises
        :class:`StoreWriteError` when that commit failed (the transitions stay pending)."""
        ...

    async def add(
        self,
        queue: QueueStore,
        messages: Sequence[StoredMessage],
        now: float,
        added: Callable[[], None],
    ) -> None:
        """Queue new messages (a ``send``): once they are durable they join ``queue`` (as
        :meth:`QueueStore.enqueue` would) and ``added`` runs, then this returns. If they cannot
        be written it raises :class:`StoreWriteError` and nothing of them remains."""
        ...

    @property
    def writable(self) -> bool:
        """False while transitions already made could not be written (the broker starts no
        delivery then); the store retries, and calls the :meth:`notify_writable` callback
        once they are."""
        ...

    def notify_writable(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the store writes again after failing."""
        ...
