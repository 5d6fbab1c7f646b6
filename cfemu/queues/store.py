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
heap of delayed ones and a dict of in-flight ones, so every transition is O(1) or O(log n)
per message.

:meth:`QueueStore.take` (a selective redrive) takes messages out of the middle of the deque
or the heap by id: an id index, kept only for the queues that ask for it (the dead-letter
queues, :meth:`MemoryQueueStore.index_ids`), finds them, and they leave their deque or heap
lazily (marked DONE, skipped when reached, compacted once they are half of it).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from itertools import islice, repeat
from math import floor, inf
from operator import attrgetter

from cfemu.queues._codec import fit
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


def _size(msg: StoredMessage) -> int:
    """``msg.size``, without the property's call for a ``bytes`` payload."""
    payload = msg.payload
    return len(payload) if type(payload) is bytes else msg.size


_NO_TRANSACTION = nullcontext()  # reusable: memory has nothing to commit


class MemoryQueueStore(QueueStore):
    """In-memory :class:`QueueStore`: deque (ready), heap (delayed), dict (in flight).

    Per message it keeps the :class:`StoredMessage` and one pointer in each index it is in,
    nothing else: no per-enqueue groups, no heap tuples (delayed messages order themselves).
    """

    __slots__ = (
        "_by_id",
        "_by_time",
        "_bytes",
        "_delayed",
        "_delayed_gone",
        "_grouped",
        "_in_flight",
        "_indexed",
        "_keys",
        "_last_sent",
        "_leases",
        "_live",
        "_name",
        "_odd",
        "_ready",
        "_ready_bytes",
        "_ready_gone",
        "_unindexed",
    )

    #: Whether the store numbers messages itself (a persistent store gives row keys).
    _numbers_keys = True

    def __init__(self, name: str) -> None:
        self._name = name
        self._ready: deque[StoredMessage] = deque()
        self._delayed: list[StoredMessage] = []  # a heap by (due, key)
        # In flight, in lease order: whole leases (the lists ``lease`` returned, keyed by
        # their identity, holding ``_grouped`` messages), leased after the messages indexed
        # one by one (keyed by the message itself: an identity hash, no id hashed). A
        # delivery that settles its whole lease at once (every message acked) drops it
        # with one dict operation instead of two per message; anything that moves single
        # messages out of flight first spreads the leases into the per-message index
        # (``_ungroup``), once each.
        self._in_flight: dict[StoredMessage, None] = {}
        self._leases: dict[int, tuple[list[StoredMessage], int]] = {}  # (lease, its bytes)
        self._grouped = 0
        # The leases of batches taken whole as they were sent (``lease_sent``), keyed like
        # ``_leases``: not in the send-time index, and pending (no ``StoredMessage`` made)
        # until something needs their messages one by one (``_expand``).
        self._unindexed: dict[int, UniformBatch] = {}
        # The bytes of the messages in the ready deque (taken ones excluded): what a lease of
        # the whole deque holds, so that settling that lease whole sizes no message.
        self._ready_bytes = 0
        self._keys = itertools.count()  # heap tie-breaker: equal due times keep send order
        self._bytes = 0
        self._live = 0
        # Send-time index for ``oldest_timestamp_ms`` with lazy deletion of DONE messages:
        # messages enqueued in time order are appended to one deque (one pointer each);
        # out-of-order arrivals (dead letters keep their send time) go to a small heap.
        # Compacted when dead entries outnumber live ones.
        self._by_time: deque[StoredMessage] = deque()
        self._odd: list[tuple[float, int, StoredMessage]] = []
        self._last_sent = -inf
        self._indexed = 0
        # Selective removal (``take``): an id index of the messages not yet done, kept only
        # once asked for (``index_ids``: a dead-letter queue), and how many taken messages
        # still sit in the ready deque and the delayed heap (marked DONE, skipped lazily).
        self._by_id: dict[str, StoredMessage] | None = None
        self._ready_gone = 0
        self._delayed_gone = 0

    @property
    def name(self) -> str:
        return self._name

    def index_ids(self) -> None:
        """Keep an index of this queue's messages by id from now on, so that :meth:`take`
        costs what it takes (built once from the messages already here; idempotent)."""
        if self._by_id is not None:
            return
        if self._unindexed:
            self._expand()
        index: dict[str, StoredMessage] = {}
        leased = (out for out, _ in self._leases.values())
        for found in (self._ready, self._delayed, self._in_flight, *leased):
            for msg in found:
                if msg.state != DONE:
                    index[msg.id] = msg
        self._by_id = index

    def take(self, ids: Iterable[str]) -> list[StoredMessage]:
        """READY/DELAYED → DONE for the messages whose id is in ``ids`` (those in flight,
        done or unknown are skipped); returns them, each once, in the order of ``ids``.
        O(len(ids)) with the id index (:meth:`index_ids`, built here when missing)."""
        self.index_ids()
        index = self._by_id
        assert index is not None
        out: list[StoredMessage] = []
        removed_bytes = 0
        for msg_id in ids:
            msg = index.get(msg_id)
            if msg is None or msg.state == IN_FLIGHT:
                continue
            size = msg.size
            if msg.state == READY:
                self._ready_gone += 1
                self._ready_bytes -= size
            else:
                self._delayed_gone += 1
            msg.state = DONE
            del index[msg_id]
            removed_bytes += size
            out.append(msg)
        if out:
            self._bytes -= removed_bytes
            self._live -= len(out)
            if self._ready_gone > 64 and self._ready_gone * 2 > len(self._ready):
                self._ready = deque(m for m in self._ready if m.state != DONE)
                self._ready_gone = 0
            if self._delayed_gone > 64 and self._delayed_gone * 2 > len(self._delayed):
                self._delayed = [m for m in self._delayed if m.state != DONE]
                heapq.heapify(self._delayed)
                self._delayed_gone = 0
            if self._indexed > 2 * self._live + 1024:
                self._compact()
        return out

    def _drop_taken_heads(self) -> None:
        """Pop the taken messages at the head of the ready deque and the top of the heap."""
        ready = self._ready
        while self._ready_gone and ready and ready[0].state == DONE:
            ready.popleft()
            self._ready_gone -= 1
        delayed = self._delayed
        while self._delayed_gone and delayed and delayed[0].state == DONE:
            heapq.heappop(delayed)
            self._delayed_gone -= 1

    # --- transitions -----------------------------------------------------------------------
    def _delay(self, msg: StoredMessage) -> None:
        msg.state = DELAYED
        if self._numbers_keys:
            msg.key = next(self._keys)
        heapq.heappush(self._delayed, msg)

    def enqueue(self, messages: Sequence[StoredMessage], now: float) -> None:
        if not messages:
            return
        if not self._live and self._indexed:
            self._reset_time_index()  # every message indexed so far is settled
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
            in_order = last_sent >= self._last_sent
        else:
            ready_append = self._ready.append
            added = ready_added = 0
            last_sent = self._last_sent
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
        if in_order:
            self._by_time.extend(messages)
            self._last_sent = last_sent
        else:
            push = heapq.heappush
            odd = self._odd
            keys = self._keys
            for msg in messages:
                push(odd, (msg.sent, next(keys), msg))
        self._indexed += len(messages)

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
            # In flight as one lease (see ``__init__``); the caller must not change the list.
            self._leases[id(out)] = (out, nbytes)
            self._grouped += len(out)
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
        if not self._live and self._indexed:
            self._reset_time_index()  # every message indexed so far is settled
        n = len(ids)
        key = id(batch)
        nbytes = batch.nbytes
        self._leases[key] = (batch, nbytes)
        self._unindexed[key] = batch
        self._grouped += n
        self._bytes += nbytes
        self._live += n
        return True

    def _expand(self) -> None:
        """Make the messages of the batches leased as they were sent (``lease_sent``), in
        flight, and index them by send time like any other message."""
        for batch in self._unindexed.values():
            batch.fill_in_flight()
            sent = batch.sent
            if sent >= self._last_sent:
                self._by_time.extend(batch)
                self._last_sent = sent
            else:
                push = heapq.heappush
                odd = self._odd
                keys = self._keys
                for msg in batch:
                    push(odd, (sent, next(keys), msg))
            self._indexed += len(batch)
        self._unindexed.clear()

    def _settle_sent(self, batch: UniformBatch) -> bool:
        """Settle a batch leased as it was sent, whole: True if it was still pending (its
        messages never made: nothing to do per message), else False."""
        key = id(batch)
        ids = batch.ids
        if ids is None or self._unindexed.pop(key, None) is None:
            return False
        nbytes = self._leases.pop(key)[1]
        n = len(ids)
        self._grouped -= n
        self._bytes -= nbytes
        self._live -= n
        return True

    def _ungroup(self) -> None:
        """Index every message of the whole leases in flight one by one (lease order kept:
        the per-message index holds only messages leased before them)."""
        if self._unindexed:
            self._expand()
        leases = self._leases
        if leases:
            update = self._in_flight.update
            fromkeys = dict.fromkeys
            for out, _ in leases.values():
                update(fromkeys(out))
            leases.clear()
            self._grouped = 0

    def _lease_skipping(self, limit: int) -> list[StoredMessage]:
        """:meth:`lease` while taken messages sit in the ready deque."""
        self._ungroup()
        ready = self._ready
        out: list[StoredMessage] = []
        while ready and len(out) < limit:
            msg = ready.popleft()
            if msg.state == DONE:
                self._ready_gone -= 1
                continue
            msg.state = IN_FLIGHT
            msg.attempts += 1
            self._in_flight[msg] = None
            self._ready_bytes -= _size(msg)
            out.append(msg)
        return out

    def settle(
        self,
        finished: Iterable[StoredMessage],
        retried: Iterable[tuple[StoredMessage, float]],
        now: float,
    ) -> None:
        in_flight = self._in_flight
        if type(finished) is UniformBatch:
            if self._settle_sent(finished):
                finished = []  # settled whole, as it was leased
        elif type(finished) is not list:
            finished = list(finished)
        removed = len(finished)
        if removed:
            leases = self._leases
            lease = leases.pop(id(finished), None) if leases else None
            if lease is not None:
                if self._unindexed:
                    self._unindexed.pop(id(finished), None)
                # A whole lease, every message still in flight: its bytes are known.
                self._grouped -= removed
                removed_bytes = lease[1]
                for msg in finished:
                    msg.state = DONE
            else:
                self._ungroup()
                removed_bytes = 0
                for msg in finished:
                    del in_flight[msg]
                    msg.state = DONE
                    payload = msg.payload
                    # (a text body counts its UTF-8 size: ``StoredMessage.size``)
                    removed_bytes += len(payload) if type(payload) is bytes else msg.size
            index = self._by_id
            if index is not None:
                for msg in finished:
                    index.pop(msg.id, None)
        if retried and self._leases:
            if type(retried) is not list:
                retried = list(retried)
            self._ungroup()
        for msg, due in retried:
            del in_flight[msg]
            msg.payload = fit(msg.payload)  # it waits again (its first lease may have been
            # before ``UniformBatch.fit_waiting``)
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
            if self._indexed > 2 * self._live + 1024:
                self._compact()

    def unlease(
        self, messages: Iterable[StoredMessage], now: float, *, front: bool = False
    ) -> None:
        self._ungroup()
        in_flight = self._in_flight
        back = [msg for msg in messages if msg in in_flight]
        for msg in back:
            del in_flight[msg]
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

    def _compact(self) -> None:
        live = [msg for msg in self._by_time if msg.state != DONE]
        live.extend(entry[2] for entry in self._odd if entry[2].state != DONE)
        live.sort(key=lambda msg: msg.sent)
        self._by_time = deque(live)
        self._odd = []
        self._indexed = len(live)
        self._last_sent = live[-1].sent if live else -inf

    # --- reads -----------------------------------------------------------------------------
    @property
    def ready_count(self) -> int:
        return len(self._ready) - self._ready_gone

    @property
    def delayed_count(self) -> int:
        return len(self._delayed) - self._delayed_gone

    @property
    def in_flight_count(self) -> int:
        return len(self._in_flight) + self._grouped

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

    def _reset_time_index(self) -> None:
        """Empty the send-time index at once: it holds only settled messages. (A consumer
        that keeps up settles every message before the next send: the index never needs
        to drop its head one by one.)"""
        self._by_time.clear()
        self._odd = []
        self._indexed = 0
        self._last_sent = -inf

    def oldest_timestamp_ms(self) -> int | None:
        if not self._live:
            if self._indexed:
                self._reset_time_index()
            return None
        best: int | None = None
        by_time = self._by_time
        if by_time and by_time[0].state == DONE:
            # The settled messages at the head, counted; then dropped at once (all of
            # them, or a copy of the live rest when that is shorter) or one by one.
            gone = 0
            for msg in by_time:
                if msg.state != DONE:
                    break
                gone += 1
            if gone == len(by_time):
                by_time.clear()
            elif 2 * gone >= len(by_time):
                by_time = self._by_time = deque(islice(by_time, gone, None))
            else:
                popleft = by_time.popleft
                for _ in repeat(None, gone):
                    popleft()
            self._indexed -= gone
        if by_time:
            best = by_time[0].timestamp_ms
        odd = self._odd
        while odd and odd[0][2].state == DONE:
            heapq.heappop(odd)
            self._indexed -= 1
        if odd:
            oldest = odd[0][2].timestamp_ms
            if best is None or oldest < best:
                best = oldest
        for batch in self._unindexed.values():  # wholly in flight: all not done
            oldest = floor(batch.sent * 1000)
            if best is None or oldest < best:
                best = oldest
        return best

    def iter_ready(self) -> Iterator[StoredMessage]:
        if self._ready_gone:
            return iter([m for m in self._ready if m.state != DONE])
        return iter(list(self._ready))

    def iter_delayed(self) -> Iterator[StoredMessage]:
        if self._delayed_gone:
            return iter(sorted(m for m in self._delayed if m.state != DONE))
        return iter(sorted(self._delayed))

    def iter_in_flight(self) -> Iterator[StoredMessage]:
        if self._unindexed:
            self._expand()
        leased = (out for out, _ in self._leases.values())
        return iter([*self._in_flight, *itertools.chain.from_iterable(leased)])

    def page(self, state: int, start: int, limit: int) -> list[StoredMessage]:
        if state == DELAYED:
            from cfemu.queues.pages import heap_page

            return heap_page(self._delayed, start, limit, live=self.delayed_count)
        if state == READY and self._ready_gone:
            live = (m for m in self._ready if m.state != DONE)
            return list(itertools.islice(live, start, start + limit))
        if state == READY:
            return list(itertools.islice(self._ready, start, start + limit))
        if self._unindexed:
            self._expand()
        flying = itertools.chain(self._in_flight, *(out for out, _ in self._leases.values()))
        return list(itertools.islice(flying, start, start + limit))


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
