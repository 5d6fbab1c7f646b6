"""The only source of time in cfemu: a :class:`Clock` protocol, a real and a virtual clock.

Nothing else in cfemu calls ``time.time()``, ``asyncio.sleep()`` or ``loop.call_later()``;
every timer (batch timeouts, send and retry delays, AI latency) is asked of the clock. Under
the :class:`VirtualClock` nothing sleeps: time moves only when ``advance()`` (or the
emulator's ``drain()``) moves it, firing due timers in order. That is what makes tests of
retry delays and dead-letter routing run in milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "RealClock", "TimerHandle", "VirtualClock"]

#: Where a :class:`VirtualClock` starts unless told otherwise: 2026-01-01T00:00:00Z.
DEFAULT_VIRTUAL_EPOCH = 1_767_225_600.0


class TimerHandle:
    """A scheduled callback; :meth:`cancel` stops it from running."""

    __slots__ = ("_cancel", "cancelled", "when")

    def __init__(self, when: float, cancel: Callable[[], None]) -> None:
        self.when = when
        self.cancelled = False
        self._cancel = cancel

    def cancel(self) -> None:
        """Cancel the timer. Cancelling twice, or after it ran, does nothing."""
        if not self.cancelled:
            self.cancelled = True
            self._cancel()


class Clock(ABC):
    """Wall-clock time in seconds since the Unix epoch, plus timers on that time."""

    @abstractmethod
    def now(self) -> float:
        """Current time, seconds since the Unix epoch (UTC)."""

    @abstractmethod
    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` (synchronous, cheap) once the clock reaches ``when``."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` ``delay`` seconds from now."""
        return self.call_at(self.now() + max(0.0, delay), callback)

    @abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time (virtual time under a virtual clock)."""

    def now_ms(self) -> int:
        """Current time in whole milliseconds (JavaScript's ``Date.now()``)."""
        return int(self.now() * 1000)

    def utcnow(self) -> datetime:
        """Current time as an aware UTC ``datetime``."""
        return datetime.fromtimestamp(self.now(), UTC)

    @property
    def is_virtual(self) -> bool:
        """True when time moves only when told to."""
        return False


class RealClock(Clock):
    """The machine's clock; timers run on the running asyncio event loop."""

    def now(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        loop = asyncio.get_running_loop()
        handle = loop.call_later(max(0.0, when - time.time()), callback)
        return TimerHandle(when, handle.cancel)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock(Clock):
    """A clock that moves only when :meth:`advance` (or ``drain()``) moves it.

    Timers live in a heap and fire in time order (ties in scheduling order). Firing sets
    :meth:`now` to the timer's time first, so a callback sees the time it was due.
    """

    def __init__(self, start: float | datetime = DEFAULT_VIRTUAL_EPOCH) -> None:
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._heap: list[tuple[float, int, TimerHandle, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._live = 0
        self._sleepers = 0
        self._sleeper_waiters: list[asyncio.Future[None]] = []

    @property
    def is_virtual(self) -> bool:
        return True

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(when, self._on_cancel)
        heapq.heappush(self._heap, (when, next(self._seq), handle, callback))
        self._live += 1
        return handle

    def _on_cancel(self) -> None:
        self._live -= 1

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_later(seconds, wake)
        self._sleepers += 1
        if self._sleeper_waiters:
            waiters, self._sleeper_waiters = self._sleeper_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        try:
            await future
        finally:
            self._sleepers -= 1
            timer.cancel()

    @property
    def sleepers(self) -> int:
        """How many tasks are blocked in :meth:`sleep` right now."""
        return self._sleepers

    async def wait_for_sleeper(self) -> None:
        """Return once some task starts waiting in :meth:`sleep` (used by ``drain()``)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleeper_waiters.append(waiter)
        await waiter

    @property
    def pending_timers(self) -> int:
        """Number of timers scheduled and not cancelled."""
        return self._live

    def next_deadline(self) -> float | None:
        """Time of the earliest pending timer, or ``None`` when none is pending."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds``, firing every timer that falls due, in order.

        Returns the number of timers fired. Work those timers start (deliveries, wake-ups)
        runs when the caller next yields to the event loop; the emulator's ``advance`` and
        ``drain`` wait for it.
        """
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards (advance({seconds}))")
        return self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> int:
        """Move time forward to ``when`` (never backwards), firing due timers in order."""
        fired = 0
        heap = self._heap
        while heap and heap[0][0] <= when:
            due, _, handle, callback = heapq.heappop(heap)
            if handle.cancelled:
                continue
            handle.cancelled = True  # it ran: a later cancel() is a no-op
            self._live -= 1
            if due > self._now:
                self._now = due
            callback()
            fired += 1
        if when > self._now:
            self._now = when
        return fired

    def fire_next(self) -> bool:
        """Jump to the earliest pending timer and fire everything due then. False if none."""
        deadline = self.next_deadline()
        if deadline is None:
            return False
        self.advance_to(max(deadline, self._now))
        return True
