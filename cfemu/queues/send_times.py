"""The send-time index of one in-memory queue (:class:`SendTimes`): what the queue's
``oldestMessageTimestamp`` metric reads, kept without a scan of the queue."""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Sequence
from itertools import islice, repeat
from math import inf

from cfemu.queues.stored_message import DONE, StoredMessage

__all__ = ["SendTimes"]


class SendTimes:
    """Messages by send time, settled ones deleted lazily (skipped when they reach the head).

    Messages indexed in send order are appended to one deque (one pointer each); those that
    arrive out of order (dead letters keep their send time) go to a small heap. The owner
    compacts the index (:meth:`compact`) when its dead entries outnumber the live ones, and
    empties it at once (:meth:`reset`) when nothing it holds is left unsettled.
    """

    __slots__ = ("_by_time", "_keys", "_odd", "last_sent", "size")

    def __init__(self) -> None:
        self._by_time: deque[StoredMessage] = deque()
        self._odd: list[tuple[float, int, StoredMessage]] = []
        self._keys = itertools.count()  # heap tie-breaker
        self.last_sent = -inf
        """The send time of the newest message of the deque."""
        self.size = 0
        """Entries indexed, settled ones included."""

    def add(self, messages: Sequence[StoredMessage], last_sent: float, in_order: bool) -> None:
        """Index ``messages``: ``in_order`` when none was sent before :attr:`last_sent` or
        before the one ahead of it, ``last_sent`` the newest one's send time."""
        if in_order:
            self._by_time.extend(messages)
            self.last_sent = last_sent
        else:
            push = heapq.heappush
            odd = self._odd
            keys = self._keys
            for msg in messages:
                push(odd, (msg.sent, next(keys), msg))
        self.size += len(messages)

    def add_sent(self, messages: Sequence[StoredMessage], sent: float) -> None:
        """Index ``messages``, all sent at ``sent``."""
        self.add(messages, sent, sent >= self.last_sent)

    def reset(self) -> None:
        """Empty the index at once: it holds only settled messages. (A consumer that keeps
        up settles every message before the next send: the index never needs to drop its
        head one by one.)"""
        self._by_time.clear()
        self._odd = []
        self.size = 0
        self.last_sent = -inf

    def compact(self) -> None:
        """Drop every settled entry."""
        live = [msg for msg in self._by_time if msg.state != DONE]
        live.extend(entry[2] for entry in self._odd if entry[2].state != DONE)
        live.sort(key=lambda msg: msg.sent)
        self._by_time = deque(live)
        self._odd = []
        self.size = len(live)
        self.last_sent = live[-1].sent if live else -inf

    def oldest_ms(self) -> int | None:
        """The send time (whole milliseconds) of the oldest unsettled message indexed."""
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
            self.size -= gone
        if by_time:
            best = by_time[0].timestamp_ms
        odd = self._odd
        while odd and odd[0][2].state == DONE:
            heapq.heappop(odd)
            self.size -= 1
        if odd:
            oldest = odd[0][2].timestamp_ms
            if best is None or oldest < best:
                best = oldest
        return best
