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
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from math import floor, inf
from operator import attrgetter
from typing import Final

from cfemu.errors import StateError
from cfemu.queues._codec import Payload
from cfemu.queues.store_protocol import MessageStore, QueueStore

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
    "sent_at_ms",
    "stored_messages",
]

_id_of = attrgetter("id")

DELAYED: Final = 0
READY: Final = 1
IN_FLIGHT: Final = 2
DONE: Final = 3


class StoreWriteError(StateError):
    """A store could not write a transition durably (disk full, I/O error, read-only file).

    Raised by :meth:`MessageStore.add` (the messages were *not* queued) and by
    :meth:`MessageStore.flush` (the transitions stay pending and are retried).
    """


def sent_at_ms(timestamp_ms: int) -> float:
    """A ``sent`` time (seconds) whose :attr:`StoredMessage.timestamp_ms` is exactly
    ``timestamp_ms`` (mid-millisecond, so float rounding never moves it)."""
    return (timestamp_ms + 0.5) / 1000


class StoredMessage:
    """One message as the broker keeps it: serialized body plus delivery bookkeeping.

    ``attempts`` counts deliveries *started* (the consumer sees ``attempts`` after the lease
    that increments it). ``due`` is when a delayed message becomes ready; once it is ready,
    ``due`` holds when it became ready (the batch timeout runs from the oldest ready
    message's). ``key`` orders messages of equal ``due`` (a persistent store's row key).
    ``size`` is the serialized body's size in bytes. :func:`sent_at_ms` gives the ``sent``
    time of a message whose ``timestamp_ms`` is known.

    Kept small on purpose (issue 12: at most 350 bytes a queued message beside its body): eight
    slots, no per-message dict, the body's bytes sized to fit.
    """

    __slots__ = ("attempts", "content_type", "due", "id", "key", "payload", "sent", "state")

    state: int
    key: int

    def __init__(
        self,
        id: str,
        sent: float,
        content_type: str,
        payload: Payload,
        due: float,
        attempts: int = 0,
    ) -> None:
        self.id = id
        self.sent = sent
        """When it was sent (clock seconds); the same float as ``due`` for a message sent
        ready, so the two cost one object."""
        self.content_type = content_type
        self.payload = payload
        self.due = due
        self.attempts = attempts
        # ``state`` (and, for a delayed message, ``key``) are set by the store on enqueue.

    @property
    def timestamp_ms(self) -> int:
        """When it was sent, in whole milliseconds since the epoch (Cloudflare's precision)."""
        return floor(self.sent * 1000)

    @property
    def size(self) -> int:
        """The serialized body's size in bytes (a text body: its UTF-8 length)."""
        payload = self.payload
        if isinstance(payload, str) and not payload.isascii():
            return len(payload.encode("utf-8", "surrogatepass"))
        return len(payload)

    def __lt__(self, other: StoredMessage) -> bool:
        """Heap order of delayed messages: due time, then ``key`` (send order)."""
        due = self.due
        other_due = other.due
        return due < other_due or (due == other_due and self.key < other.key)

    def __repr__(self) -> str:
        state = ("delayed", "ready", "in flight", "done")[getattr(self, "state", DELAYED)]
        return f"<StoredMessage {self.id} {state} attempts={self.attempts}>"


_new_message = object.__new__


def stored_messages(
    ids: list[str], sent: float, content_type: str, payloads: list[bytes], due: float
) -> list[StoredMessage]:
    """One :class:`StoredMessage` per id and payload, all sent at ``sent``, due at ``due``,
    of one content type: ``sendBatch``'s records, built without an ``__init__`` call each."""
    out: list[StoredMessage] = []
    add = out.append
    for id_, payload in zip(ids, payloads, strict=True):
        msg = _new_message(StoredMessage)
        msg.id = id_
        msg.sent = sent
        msg.content_type = content_type
        msg.payload = payload
        msg.due = due
        msg.attempts = 0
        add(msg)
    return out


class MemoryQueueStore(QueueStore):
    """In-memory :class:`QueueStore`: deque (ready), heap (delayed), dict (in flight).

    Per message it keeps the :class:`StoredMessage` and one pointer in each index it is in,
    nothing else: no per-enqueue groups, no heap tuples (delayed messages order themselves).
    """

    __slots__ = (
        "_by_time",
        "_bytes",
        "_delayed",
        "_in_flight",
        "_indexed",
        "_keys",
        "_last_sent",
        "_live",
        "_name",
        "_odd",
        "_ready",
    )

    #: Whether the store numbers messages itself (a persistent store gives row keys).
    _numbers_keys = True

    def __init__(self, name: str) -> None:
        self._name = name
        self._ready: deque[StoredMessage] = deque()
        self._delayed: list[StoredMessage] = []  # a heap by (due, key)
        self._in_flight: dict[str, StoredMessage] = {}
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
        ready_append = self._ready.append
        added = 0
        last_sent = self._last_sent
        in_order = True
        for msg in messages:
            if msg.due <= now:
                msg.state = READY
                msg.due = now  # when it became ready
                ready_append(msg)
            else:
                self._delay(msg)
            payload = msg.payload
            added += len(payload) if type(payload) is bytes else msg.size
            sent = msg.sent
            if sent < last_sent:
                in_order = False
            else:
                last_sent = sent
        self._bytes += added
        self._live += len(messages)
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
            msg.state = READY
            msg.due = now
            append(msg)
            moved += 1
        return moved

    def lease(self, limit: int) -> list[StoredMessage]:
        ready = self._ready
        if limit >= len(ready):  # the whole ready queue: one copy, no pop per message
            out = list(ready)
            ready.clear()
        else:
            popleft = ready.popleft
            out = [popleft() for _ in range(limit)]
        for msg in out:
            msg.state = IN_FLIGHT
            msg.attempts += 1
        self._in_flight.update(zip(map(_id_of, out), out, strict=True))
        return out

    def settle(
        self,
        finished: Iterable[StoredMessage],
        retried: Iterable[tuple[StoredMessage, float]],
        now: float,
    ) -> None:
        in_flight = self._in_flight
        removed_bytes = 0
        removed = 0
        for msg in finished:
            del in_flight[msg.id]
            msg.state = DONE
            payload = msg.payload
            removed_bytes += len(payload) if type(payload) is bytes else msg.size
            removed += 1
        for msg, due in retried:
            del in_flight[msg.id]
            if due <= now:
                msg.state = READY
                msg.due = now
                self._ready.append(msg)
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
        back = [msg for msg in messages if self._in_flight.pop(msg.id, None) is not None]
        for msg in back:
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
        return len(self._ready)

    @property
    def delayed_count(self) -> int:
        return len(self._delayed)

    @property
    def in_flight_count(self) -> int:
        return len(self._in_flight)

    @property
    def backlog_bytes(self) -> int:
        return self._bytes

    def ready_since(self) -> float | None:
        return self._ready[0].due if self._ready else None

    def next_due(self) -> float | None:
        return self._delayed[0].due if self._delayed else None

    def oldest_timestamp_ms(self) -> int | None:
        best: int | None = None
        by_time = self._by_time
        if by_time and by_time[0].state == DONE:
            popleft = by_time.popleft
            gone = 0
            while by_time and by_time[0].state == DONE:
                popleft()
                gone += 1
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
        return best

    def iter_ready(self) -> Iterator[StoredMessage]:
        return iter(list(self._ready))

    def iter_delayed(self) -> Iterator[StoredMessage]:
        return iter(sorted(self._delayed))

    def iter_in_flight(self) -> Iterator[StoredMessage]:
        return iter(list(self._in_flight.values()))

    def page(self, state: int, start: int, limit: int) -> list[StoredMessage]:
        if state == DELAYED:
            from cfemu.queues.pages import heap_page

            return heap_page(self._delayed, start, limit)
        found = self._ready if state == READY else self._in_flight.values()
        return list(itertools.islice(found, start, start + limit))


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
        return nullcontext()

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
