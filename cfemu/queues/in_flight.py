"""The messages of one in-memory queue that are in flight (:class:`InFlight`): whole leases
kept as they were leased, single messages, and batches leased as they were sent."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from math import floor

from cfemu.queues.send_times import SendTimes
from cfemu.queues.stored_message import StoredMessage, UniformBatch

__all__ = ["InFlight"]


class InFlight:
    """In flight, in lease order: whole leases (the lists ``lease`` returned, keyed by their
    identity), leased after the messages indexed one by one in :attr:`single` (keyed by the
    message itself: an identity hash, no id hashed).

    A delivery that settles its whole lease at once (every message acked) drops it with one
    dict operation (:meth:`drop_lease`) instead of two per message; anything that moves
    single messages out of flight first spreads the leases into :attr:`single`
    (:meth:`spread`), once each. A batch leased as it was sent (:meth:`add_sent`) is a whole
    lease whose messages are not made yet (a pending
    :class:`~cfemu.queues.stored_message.UniformBatch`) and not in the send-time index:
    whatever needs them one by one makes and indexes them first (:meth:`expand`).
    """

    __slots__ = ("_leases", "_times", "_unindexed", "grouped", "single")

    def __init__(self, times: SendTimes) -> None:
        self._times = times
        self.single: dict[StoredMessage, None] = {}
        """The messages in flight one by one (the leases spread out so far)."""
        self._leases: dict[int, tuple[list[StoredMessage], int]] = {}  # (lease, its bytes)
        self.grouped = 0
        """How many messages the whole leases hold."""
        self._unindexed: dict[int, UniformBatch] = {}  # the leases of batches leased as sent

    def __len__(self) -> int:
        return len(self.single) + self.grouped

    def add_lease(self, out: list[StoredMessage], nbytes: int) -> None:
        """``out`` (``nbytes`` bytes), leased whole: in flight as one entry. The caller must
        not change the list."""
        self._leases[id(out)] = (out, nbytes)
        self.grouped += len(out)

    def add_sent(self, batch: UniformBatch, count: int) -> None:
        """A pending batch of ``count`` messages leased whole as it was sent."""
        key = id(batch)
        self._leases[key] = (batch, batch.nbytes)
        self._unindexed[key] = batch
        self.grouped += count

    def drop_sent(self, batch: UniformBatch, count: int) -> int:
        """The pending batch of ``count`` messages leased as sent is settled, whole: drop it
        (nothing per message); returns its bytes."""
        key = id(batch)
        del self._unindexed[key]
        self.grouped -= count
        return self._leases.pop(key)[1]

    def drop_lease(self, finished: list[StoredMessage]) -> int | None:
        """``finished`` is settled: if it is a whole lease (every message still in flight),
        drop it and return its bytes; else ``None`` (nothing done)."""
        leases = self._leases
        lease = leases.pop(id(finished), None) if leases else None
        if lease is None:
            return None
        if self._unindexed:
            self._unindexed.pop(id(finished), None)
        self.grouped -= len(finished)
        return lease[1]

    def expand(self) -> None:
        """Make the messages of the batches leased as they were sent, in flight, and index
        them by send time like any other message."""
        unindexed = self._unindexed
        if unindexed:
            add_sent = self._times.add_sent
            for batch in unindexed.values():
                add_sent(batch.fill_in_flight(), batch.sent)
            unindexed.clear()

    def spread(self) -> None:
        """Index every message of the whole leases one by one in :attr:`single` (lease order
        kept: it holds only messages leased before them)."""
        self.expand()
        leases = self._leases
        if leases:
            update = self.single.update
            fromkeys = dict.fromkeys
            for out, _ in leases.values():
                update(fromkeys(out))
            leases.clear()
            self.grouped = 0

    def messages(self) -> Iterator[StoredMessage]:
        """Every message in flight, in lease order (made first if they were not)."""
        self.expand()
        return itertools.chain(self.single, *(out for out, _ in self._leases.values()))

    def oldest_unindexed_ms(self) -> int | None:
        """The send time (whole milliseconds) of the oldest batch leased as sent and not yet
        in the send-time index (all of its messages are in flight)."""
        oldest: float | None = None
        for batch in self._unindexed.values():
            sent = batch.sent
            if oldest is None or sent < oldest:
                oldest = sent
        return None if oldest is None else floor(oldest * 1000)
