"""Where queued messages live: the storage seam under the broker's state machine.

A message is in exactly one state at a time::

    enqueue ──► DELAYED ──promote──► READY ──lease──► IN_FLIGHT ──settle──► DONE
                   ▲                   ▲                   │      (acked, dead-lettered, dropped)
                   └───────────────────┴─────settle────────┘      (retried, or returned on abort)

Every transition is one method of :class:`QueueStore` that takes *all* the messages it moves
at once (a whole ``sendBatch``, a whole consumer batch), and the broker wraps the transitions
that must be atomic together (settling a batch and moving its exhausted messages into the
dead-letter queue) in :meth:`MessageStore.transaction`. A persistent implementation (SQLite,
issue 8) maps each call to statements inside the current transaction and commits groups of
them; :meth:`MessageStore.flush` is awaited before ``send``/``sendBatch`` return, so a message
is durable when the producer's ``await`` completes, and many concurrent sends share one
commit. :class:`MemoryStore` is the in-memory implementation: a deque of ready messages, a
heap of delayed ones and the in-flight leases (:mod:`cfemu.queues.in_flight`), so every
transition is O(1) or O(log n) per message; a send-time index
(:mod:`cfemu.queues.send_times`) answers the oldest message's timestamp.

:meth:`QueueStore.take` (a selective redrive) takes messages out of the middle of the deque
or the heap by id (:mod:`cfemu.queues.take`).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from operator import attrgetter

from cfemu.queues._codec import fit
from cfemu.queues.in_flight import InFlight
from cfemu.queues.send_times import SendTimes
from cfemu.queues.store_protocol import MessageStore, QueueStore
from cfemu.queues.stored_message import (
    DELAYED,
    DONE,
    IN_FLIGHT,
    READY,
    StoredMessage,
    StoreWriteError,
    UniformBatch,
    sent_at_ms,
    sent_batch,
    stored_messages,
)
from cfemu.queues.take import TakeById, _size

__all__ = [
    "DELAYED",
    "DONE",
    "IN_FLIGHT",
    "READY",
    "MemoryQueueStore",
    "MemoryStore",
    "MessageStore",
    "QueueStore",
    "StoreWriteError",
    "StoredMessage",
    "UniformBatch",
    "sent_at_ms",
    "sent_batch",
    "stored_messages",
]

_id_of = attrgetter("id")
_NO_TRANSACTION = nullcontext()  # reusable: memory has nothing to commit


class MemoryQueueStore(TakeById, QueueStore):
    """In-memory :class:`QueueStore`: deque (ready), heap (delayed), leases (in flight).

    Per message it keeps the :class:`StoredMessage` and one pointer in each index it is in,
    nothing else: no per-enqueue groups, no heap tuples (delayed messages order themselves).
    """

    __slots__ = (
        "_by_id",
        "_bytes",
        "_delayed",
        "_delayed_gone",
        "_flying",
        "_keys",
        "_live",
        "_name",
        "_ready",
        "_ready_bytes",
        "_ready_gone",
        "_times",
    )

    #: Whether the store numbers messages itself (a persistent store gives row keys).
    _numbers_keys = True

    def __init__(self, name: str) -> None:
        self._name = name
        self._ready: deque[StoredMessage] = deque()
        self._delayed: list[StoredMessage] = []  # a heap by (due, key)
        self._times = SendTimes()  # for ``oldest_timestamp_ms``
        self._flying = InFlight(self._times)
        # The bytes of the messages in the ready deque (taken ones excluded): what a lease of
        # the whole deque holds, so that settling that lease whole sizes no message.
        self._ready_bytes = 0
        self._keys = itertools.count()  # heap tie-breaker: equal due times keep send order
        self._bytes = 0
        self._live = 0
        # Selective removal (``take``): an id index of the messages not yet done, kept only
        # once asked for (``index_ids``: a dead-letter queue), and how many taken messages
        # still sit in the ready deque and the delayed heap (marked DONE, skipped lazily).
        self._by_id: dict[str, StoredMessage] | None = None
        self._ready_gone = 0
        self._delayed_gone = 0

    @property
    def name(self) -> str:
        return self._name

    # --- transitions -----------------------------------------------------------------------
    def _delay(self, msg: StoredMessage) -> None:
        msg.state = DELAYED
        if self._numbers_keys:
            msg.key = next(self._keys)
        heapq.heappush(self._delayed, msg)

    def enqueue(self, messages: Sequence[StoredMessage], now: float) -> None:
        if not messages:
            return
        times = self._times
        if not self._live and times.size:
            times.reset()  # every message indexed so far is settled
        if type(messages) is UniformBatch:
            # Sent together (sendBatch): what they share is read once, not off every message.
            due = messages.due
            if due <= now:
                if due == now:  # sent ready: ``due`` already says when it became ready
                    for msg in messages:
                        msg.state = READY
                else:
                    for msg in messages:
                        msg.state = READY
                        msg.due = now  # when it became ready
                self._ready.extend(messages)
                self._ready_bytes += messages.nbytes
            else:
                for msg in messages:
                    self._delay(msg)
            added = messages.nbytes
            last_sent = messages.sent
            in_order = last_sent >= times.last_sent
        else:
            ready_append = self._ready.append
            added = ready_added = 0
            last_sent = times.last_sent
            in_order = True
            for msg in messages:
                payload = msg.payload
                size = len(payload) if type(payload) is bytes else msg.size
                added += size
                if msg.due <= now:
                    msg.state = READY
                    msg.due = now
                    ready_append(msg)
                    ready_added += size
                else:
                    self._delay(msg)
                sent = msg.sent
                if sent < last_sent:
                    in_order = False
                else:
                    last_sent = sent
            self._ready_bytes += ready_added
        self._bytes += added
        self._live += len(messages)
        index = self._by_id
        if index is not None:
            index.update(zip(map(_id_of, messages), messages, strict=True))
        times.add(messages, last_sent, in_order)

    def promote(self, now: float) -> int:
        delayed = self._delayed
        pop = heapq.heappop
        append = self._ready.append
        moved = 0
        while delayed and delayed[0].due <= now:
            msg = pop(delayed)
            if msg.state == DONE:  # taken (``take``)
                self._delayed_gone -= 1
                continue
            msg.state = READY
            msg.due = now
            append(msg)
            self._ready_bytes += _size(msg)
            moved += 1
        return moved

    def lease(self, limit: int) -> list[StoredMessage]:
        if self._ready_gone:
            self._drop_taken_heads()
            if self._ready_gone:
                return self._lease_skipping(limit)
        ready = self._ready
        if limit >= len(ready):  # the whole ready queue: one copy, no pop per message
            out = list(ready)
            ready.clear()
            nbytes = self._ready_bytes
            self._ready_bytes = 0
            for msg in out:
                msg.state = IN_FLIGHT
                msg.attempts += 1
        else:
            popleft = ready.popleft
            out = [popleft() for _ in range(limit)]
            nbytes = 0
            for msg in out:
                msg.state = IN_FLIGHT
                msg.attempts += 1
                payload = msg.payload
                nbytes += len(payload) if type(payload) is bytes else msg.size
            self._ready_bytes -= nbytes
        if out:
            self._flying.add_lease(out, nbytes)  # the caller must not change the list
        return out

    def lease_sent(self, batch: UniformBatch) -> bool:
        """New messages (a pending ``sendBatch``, :func:`~cfemu.queues.stored_message.sent_batch`)
        leased whole as they are queued, ready now and past nothing (the caller checked
        that its consumer would lease exactly them): in flight as one lease, on their
        first attempt, and no :class:`StoredMessage` made for them until something needs
        them one by one. False (nothing done) when this store cannot: the caller then
        fills the batch and queues it."""
        ids = batch.ids
        if ids is None or self._by_id is not None:
            return False
        if not self._live and self._times.size:
            self._times.reset()  # every message indexed so far is settled
        n = len(ids)
        self._flying.add_sent(batch, n)
        self._bytes += batch.nbytes
        self._live += n
        return True

    def settle(
        self,
        finished: Iterable[StoredMessage],
        retried: Iterable[tuple[StoredMessage, float]],
        now: float,
    ) -> None:
        flying = self._flying
        if type(finished) is UniformBatch:
            ids = finished.ids
            if ids is not None:  # leased as sent, settled whole: nothing to do per message
                self._bytes -= flying.drop_sent(finished, len(ids))
                self._live -= len(ids)
                finished = []
        elif type(finished) is not list:
            finished = list(finished)
        removed = len(finished)
        if removed:
            lease_bytes = flying.drop_lease(finished)
            if lease_bytes is not None:
                # A whole lease, every message still in flight: its bytes are known.
                removed_bytes = lease_bytes
                for msg in finished:
                    msg.state = DONE
            else:
                flying.spread()
                single = flying.single
                removed_bytes = 0
                for msg in finished:
                    del single[msg]
                    msg.state = DONE
                    payload = msg.payload
                    # (a text body counts its UTF-8 size: ``StoredMessage.size``)
                    removed_bytes += len(payload) if type(payload) is bytes else msg.size
            index = self._by_id
            if index is not None:
                for msg in finished:
                    index.pop(msg.id, None)
        if retried:
            if type(retried) is not list:
                retried = list(retried)
            flying.spread()
            single = flying.single
            for msg, due in retried:
                del single[msg]
                msg.payload = fit(msg.payload)  # it waits again (its first lease may have
                # been before ``UniformBatch.fit_waiting``)
                if due <= now:
                    msg.state = READY
                    msg.due = now
                    self._ready.append(msg)
                    self._ready_bytes += _size(msg)
                else:
                    msg.due = due
                    self._delay(msg)
        if removed:
            self._bytes -= removed_bytes
            self._live -= removed
            if self._times.size > 2 * self._live + 1024:
                self._times.compact()

    def unlease(
        self, messages: Iterable[StoredMessage], now: float, *, front: bool = False
    ) -> None:
        flying = self._flying
        flying.spread()
        single = flying.single
        back = [msg for msg in messages if msg in single]
        for msg in back:
            del single[msg]
        self._ready_bytes += sum(map(_size, back))
        for msg in back:
            msg.payload = fit(msg.payload)  # it waits again (see ``settle``)
            msg.attempts -= 1
            msg.state = READY
            if not front:
                msg.due = now
        if front:
            self._ready.extendleft(reversed(back))
        else:
            self._ready.extend(back)

    # --- reads -----------------------------------------------------------------------------
    @property
    def ready_count(self) -> int:
        return len(self._ready) - self._ready_gone

    @property
    def delayed_count(self) -> int:
        return len(self._delayed) - self._delayed_gone

    @property
    def in_flight_count(self) -> int:
        return len(self._flying)

    @property
    def backlog_bytes(self) -> int:
        return self._bytes

    def ready_since(self) -> float | None:
        if self._ready_gone:
            self._drop_taken_heads()
        return self._ready[0].due if self._ready else None

    def next_due(self) -> float | None:
        if self._delayed_gone:
            self._drop_taken_heads()
        return self._delayed[0].due if self._delayed else None

    def oldest_timestamp_ms(self) -> int | None:
        if not self._live:
            if self._times.size:
                self._times.reset()
            return None
        times = self._times
        best = times.oldest_ms() if times.size else None
        pending = self._flying.oldest_unindexed_ms()  # wholly in flight: none is done
        if pending is not None and (best is None or pending < best):
            best = pending
        return best

    def iter_in_flight(self) -> Iterator[StoredMessage]:
        return iter(list(self._flying.messages()))

    def page(self, state: int, start: int, limit: int) -> list[StoredMessage]:
        if state == DELAYED:
            from cfemu.queues.pages import heap_page

            return heap_page(self._delayed, start, limit, live=self.delayed_count)
        if state == READY and self._ready_gone:
            live = (m for m in self._ready if m.state != DONE)
            return list(itertools.islice(live, start, start + limit))
        if state == READY:
            return list(itertools.islice(self._ready, start, start + limit))
        return list(itertools.islice(self._flying.messages(), start, start + limit))


class MemoryStore(MessageStore):
    """In-memory :class:`MessageStore` (cfemu's default; state ends with the process)."""

    writable = True
    """Always: memory never fails to write."""

    def __init__(self) -> None:
        self._queues: dict[str, MemoryQueueStore] = {}

    def open_queue(self, name: str) -> MemoryQueueStore:
        store = self._queues.get(name)
        if store is None:
            store = self._queues[name] = MemoryQueueStore(name)
        return store

    def transaction(self) -> AbstractContextManager[None]:
        return _NO_TRANSACTION

    async def flush(self) -> None:
        return None

    async def add(
        self,
        queue: QueueStore,
        messages: Sequence[StoredMessage],
        now: float,
        added: Callable[[], None],
    ) -> None:
        queue.enqueue(messages, now)
        added()

    def notify_writable(self, callback: Callable[[], None]) -> None:
        return None  # never unwritable
