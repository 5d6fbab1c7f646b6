"""A queued message as the stores keep it (:class:`StoredMessage`), the states it moves
through, and the error a store raises when it cannot write (re-exported by
:mod:`cfemu.queues.store`, which has the state machine and the in-memory stores)."""

from __future__ import annotations

from itertools import repeat
from math import floor
from typing import Final

from cfemu.errors import StateError
from cfemu.queues._codec import Payload, fit

__all__ = [
    "DELAYED",
    "DONE",
    "IN_FLIGHT",
    "READY",
    "StoreWriteError",
    "StoredMessage",
    "UniformBatch",
    "sent_at_ms",
    "sent_batch",
    "stored_messages",
]

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


class UniformBatch(list[StoredMessage]):
    """Messages sent together (one ``sendBatch``): the same ``sent`` and ``due`` for all,
    ``nbytes`` their payloads' bytes. The in-memory store's ``enqueue`` reads these once
    instead of off every message.

    ``fitted`` is false while the payloads may still be orjson's output buffers (4 KiB
    each, whatever the JSON's size): the broker calls :meth:`fit_waiting` once the batch
    is queued and the consumer has leased what it takes at once, so that only the messages
    left waiting pay for a right-sized copy.

    A batch made by :func:`sent_batch` is *pending*: the list is empty, its messages are
    ``ids`` and ``payloads`` (of one ``content_type``) and no :class:`StoredMessage` exists
    yet. A consumer that leases the whole batch as it is queued
    (:meth:`~cfemu.queues.store.MemoryQueueStore.lease_sent`) gets it that way, and the
    messages are only made (:meth:`fill_in_flight`) if something needs them one by one (a
    retry, a view of the messages in flight, a shutdown); otherwise :meth:`fill` makes
    them before the batch is queued.
    """

    __slots__ = ("content_type", "due", "fitted", "ids", "nbytes", "payloads", "sent")

    sent: float
    due: float
    nbytes: int
    fitted: bool
    content_type: str
    ids: list[str] | None
    """The messages' ids while the batch is pending (``None`` once it is filled)."""
    payloads: list[bytes] | None

    def fill(self, attempts: int = 0) -> None:
        """Make the pending batch's messages (no-op once filled); their ``state`` is left
        for the store to set."""
        ids = self.ids
        payloads = self.payloads
        if ids is None or payloads is None:
            return
        self.ids = self.payloads = None
        # The objects made by a C loop (no Python call each), then filled in.
        self.extend(map(_new_message, repeat(StoredMessage, len(ids))))
        sent = self.sent
        due = self.due
        content_type = self.content_type
        # (no ``strict=True``: the lengths match by construction, and on Python 3.11 a
        # keyword to ``zip`` costs a parse of its arguments, ~300 ns a call)
        for msg, id_, payload in zip(self, ids, payloads):  # noqa: B905
            msg.id = id_
            msg.sent = sent
            msg.content_type = content_type
            msg.payload = payload
            msg.due = due
            msg.attempts = attempts

    def fill_in_flight(self) -> UniformBatch:
        """:meth:`fill` a pending batch leased whole as it was queued: each message in
        flight on its first attempt (ready since it was sent). Returns the batch."""
        if self.ids is not None:
            self.fill(1)
            for msg in self:
                msg.state = IN_FLIGHT
        return self

    def fit_waiting(self) -> None:
        """Give every message of the batch not in flight a right-sized payload (once)."""
        if self.fitted:
            return
        self.fitted = True
        if not self or self[-1].state == IN_FLIGHT:
            return  # leases take the oldest first: the whole batch is in flight
        for msg in self:
            if msg.state != IN_FLIGHT:
                msg.payload = fit(msg.payload)


def sent_batch(
    ids: list[str],
    sent: float,
    content_type: str,
    payloads: list[bytes],
    due: float,
    nbytes: int,
) -> UniformBatch:
    """A pending :class:`UniformBatch` (its messages not made yet): ``sendBatch``'s
    records, all sent at ``sent``, due at ``due``, of one content type, ``nbytes`` bytes in
    all, their payloads possibly orjson's oversized buffers (not ``fitted``)."""
    out = UniformBatch()
    out.ids = ids
    out.payloads = payloads
    out.sent = sent
    out.due = due
    out.content_type = content_type
    out.nbytes = nbytes
    out.fitted = False
    return out


def stored_messages(
    ids: list[str],
    sent: float,
    content_type: str,
    payloads: list[bytes],
    due: float,
    nbytes: int | None = None,
    *,
    fitted: bool = True,
) -> UniformBatch:
    """One :class:`StoredMessage` per id and payload, all sent at ``sent``, due at ``due``,
    of one content type: ``sendBatch``'s records, built without an ``__init__`` call each.
    ``nbytes``: the payloads' total bytes, when the caller has counted them; ``fitted``:
    false for payloads that may be orjson's oversized buffers (see :class:`UniformBatch`)."""
    total = sum(map(len, payloads)) if nbytes is None else nbytes
    out = sent_batch(ids, sent, content_type, payloads, due, total)
    out.fitted = fitted
    out.fill()
    return out
