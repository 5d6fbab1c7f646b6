"""``drain()`` and ``advance()``: moving an emulator through (virtual) time.

Under a :class:`~cfemu.clock.VirtualClock` the loop runs until nothing can progress without a
timer, then the next timer fires; tracked work waiting on something outside the loop (a
thread, a socket) is awaited. Each step counts against a budget, so a runaway producer raises
:class:`~cfemu.errors.DrainError` instead of hanging. On the real clock ``drain()`` polls until
every binding kind is settled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from cfemu._tasks import TaskTracker
from cfemu.bindings import BindingService
from cfemu.clock import Clock, VirtualClock
from cfemu.errors import CfemuError, DrainError

__all__ = ["TimeKeeper"]


class TimeKeeper:
    """Drains and advances one emulator: its clock, tracked tasks and services."""

    def __init__(
        self,
        clock: Clock,
        tracker: TaskTracker,
        services: Callable[[], Iterable[BindingService]],
        busy: Callable[[], str],
    ) -> None:
        self.clock = clock
        self.tracker = tracker
        self._services = services
        self._busy = busy

    async def drain(self, *, max_steps: int, max_seconds: float | None) -> None:
        """See :meth:`cfemu.emulator.Emulator.drain`."""
        try:
            async with asyncio.timeout(max_seconds):
                if isinstance(self.clock, VirtualClock):
                    await self._drain_virtual(self.clock, max_steps)
                else:
                    await self._drain_real()
        except TimeoutError:
            raise DrainError(
                f"drain() did not settle within {max_seconds} s of real time; "
                f"still busy: {self._busy()}"
            ) from None

    async def _drain_virtual(self, clock: VirtualClock, max_steps: int) -> None:
        budget = _StepBudget(clock, max_steps, self._busy)
        while True:
            await self._settle(clock, budget)
            if clock.fire_next():
                budget.spend()
            elif not self.tracker.tasks:
                return

    async def _settle(self, clock: VirtualClock, budget: _StepBudget | None = None) -> None:
        """Run the event loop until nothing can progress without a timer firing."""
        tracker = self.tracker
        while True:
            if not await _run_until_quiet():
                # Work keeps the loop busy (a chain of deliveries): one step spent.
                if budget is not None:
                    budget.spend()
                continue
            if not tracker.tasks or clock.next_deadline() is not None:
                return
            # Tracked work is waiting on something outside the loop (a thread, a socket),
            # or keeps starting more work; either way, one step of it is spent.
            waiter = asyncio.ensure_future(clock.wait_for_sleeper())
            try:
                await asyncio.wait({*tracker.tasks, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if budget is not None:
                budget.spend()

    async def _drain_real(self) -> None:
        while self.tracker.tasks or not all(s.is_settled() for s in self._services()):
            await self.clock.sleep(0.005)

    async def advance(self, seconds: float) -> None:
        """See :meth:`cfemu.emulator.Emulator.advance`."""
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            raise CfemuError("advance() needs a VirtualClock (Emulator(..., clock=VirtualClock()))")
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards (advance({seconds}))")
        target = clock.now() + seconds
        while True:
            await self._settle(clock)
            deadline = clock.next_deadline()
            if deadline is None or deadline > target:
                break
            clock.fire_next()
        clock.advance_to(target)
        await self._settle(clock)

    async def run_until(
        self, done: Callable[[], bool], *, max_steps: int, max_seconds: float | None
    ) -> bool:
        """Run (firing timers under a :class:`VirtualClock`) until ``done()`` holds; False
        when everything settled first. On the real clock, poll until ``done()`` or
        ``max_seconds`` (then False)."""
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            try:
                async with asyncio.timeout(max_seconds):
                    while not done():
                        await clock.sleep(0.005)
            except TimeoutError:
                return False
            return True
        budget = _StepBudget(clock, max_steps, self._busy)
        while True:
            await self._settle(clock, budget)
            if done():
                return True
            if clock.fire_next():
                budget.spend()
            elif not self.tracker.tasks:
                return done()


class _StepBudget:
    """Counts ``drain()``'s steps (timers fired, rounds of background work) against a bound."""

    def __init__(self, clock: VirtualClock, max_steps: int, busy: Callable[[], str]) -> None:
        self.clock = clock
        self.start = clock.now()
        self.left = max_steps
        self.max_steps = max_steps
        self.busy = busy

    def spend(self) -> None:
        self.left -= 1
        if self.left <= 0:
            days = (self.clock.now() - self.start) / 86400
            raise DrainError(
                f"drain() did not settle after {self.max_steps} steps ({days:.2f} days of "
                f"virtual time); still busy: {self.busy()}. A handler "
                f"that keeps sending messages never settles."
            )


async def _run_until_quiet(max_rounds: int = 256) -> bool:
    """Yield to the event loop until no callback is ready to run; False if it stayed busy."""
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)  # CPython's run queue; absent on other loops
    for _ in range(max_rounds):
        await asyncio.sleep(0)
        if ready is not None and not ready:
            # One more turn: callbacks scheduled by the last ones get their chance.
            await asyncio.sleep(0)
            if not ready:
                return True
    return ready is None
