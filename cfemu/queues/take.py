"""Selective removal from one in-memory queue (:class:`TakeById`, a base of
:class:`~cfemu.queues.store.MemoryQueueStore`): :meth:`~TakeById.take` (a redrive of chosen
messages) takes messages out of the middle of the ready deque or the delayed heap by id.

An id index, kept only for the queues that ask for it (the dead-letter queues,
:meth:`~TakeById.index_ids`), finds them, and they leave their deque or heap lazily: marked
DONE, skipped when reached (by a lease, and by the reads here), compacted once they are
half of it.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from cfemu.queues.in_flight import InFlight
from cfemu.queues.send_times import SendTimes
from cfemu.queues.stored_message import DONE, IN_FLIGHT, READY, StoredMessage

__all__ = ["TakeById"]


def _size(msg: StoredMessage) -> int:
    """``msg.size``, without the property's call for a ``bytes`` payload."""
    payload = msg.payload
    return len(payload) if type(payload) is bytes else msg.size


class TakeById:
    """Taking messages out of a :class:`~cfemu.queues.store.MemoryQueueStore` by id, and
    leasing and reading past the ones taken (``_ready_gone`` of them still in the ready
    deque, ``_delayed_gone`` in the delayed heap). The state is the store's: its slots hold
    the attributes declared here."""

    if not TYPE_CHECKING:  # (mypy would refuse assignments to the store's slots here)
        __slots__ = ()

    _ready: deque[StoredMessage]
    _delayed: list[StoredMessage]
    _ready_gone: int
    _delayed_gone: int
    _ready_bytes: int
    _bytes: int
    _live: int
    _by_id: dict[str, StoredMessage] | None
    _times: SendTimes
    _flying: InFlight

    def index_ids(self) -> None:
        """Keep an index of this queue's messages by id from now on, so that :meth:`take`
        costs what it takes (built once from the messages already here; idempotent)."""
        if self._by_id is not None:
            return
        index: dict[str, StoredMessage] = {}
        for found in (self._ready, self._delayed, self._flying.messages()):
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
            if self._times.size > 2 * self._live + 1024:
                self._times.compact()
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

    def _lease_skipping(self, limit: int) -> list[StoredMessage]:
        """:meth:`lease` while taken messages sit in the ready deque."""
        flying = self._flying
        flying.spread()
        single = flying.single
        ready = self._ready
        out: list[StoredMessage] = []
        while ready and len(out) < limit:
            msg = ready.popleft()
            if msg.state == DONE:
                self._ready_gone -= 1
                continue
            msg.state = IN_FLIGHT
            msg.attempts += 1
            single[msg] = None
            self._ready_bytes -= _size(msg)
            out.append(msg)
        return out

    def iter_ready(self) -> Iterator[StoredMessage]:
        """Ready messages, in delivery order (taken ones skipped)."""
        if self._ready_gone:
            return iter([m for m in self._ready if m.state != DONE])
        return iter(list(self._ready))

    def iter_delayed(self) -> Iterator[StoredMessage]:
        """Delayed messages, earliest due first (taken ones skipped)."""
        if self._delayed_gone:
            return iter(sorted(m for m in self._delayed if m.state != DONE))
        return iter(sorted(self._delayed))
