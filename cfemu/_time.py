"""``drain()`` and ``advance()``: moving an emulator through (virtual) time.

Under a :class:`~cfemu.clock.VirtualClock` the loop runs until nothing can progress without a
timer, then the next timer fires; tracked work waiting on something outside the loop (a
thread, a socket) is awaited. Virtual time does not move while the emulator's own work waits
in real time: a real timer it started (a Worker's ``asyncio.sleep``, an HTTP client's
timeout around a request in flight) or a job in the loop's default executor (a thread).
Each step counts against a budget, so a runaway producer raises
:class:`~cfemu.errors.DrainError` instead of hanging. On the real clock ``drain()`` polls until
every binding kind is settled.
"""

from __future__ import annotations

import asyncio
import weakref
from asyncio import FIRST_COMPLETED
from collections.abc import Callable, Iterable

from cfemu._tasks import TaskTracker, tracked
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
        # Virtual end of each real-time sleep of tracked work, fixed when first seen.
        self._sleep_wakes: weakref.WeakKeyDictionary[asyncio.TimerHandle, float] = (
            weakref.WeakKeyDictionary()
        )

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

    async def _settle(
        self, clock: VirtualClock, budget: _StepBudget | None = None, limit: float | None = None
    ) -> None:
        """Run the event loop until nothing can progress without a timer firing.

        ``limit`` (``advance()``'s target) bounds how far a tracked ``asyncio.sleep`` may move
        the virtual clock.
        """
        tracker = self.tracker
        while True:
            if not await _run_until_quiet():
                # Work keeps the loop busy (a chain of deliveries): one step spent.
                if budget is not None:
                    budget.spend()
                continue
            if not tracker.tasks:
                return
            deadline = clock.next_deadline()
            real = _RealTimeWork.scan(clock, self._sleep_wakes)
            if real.sleeps:
                wake = real.sleep_wake
                if (deadline is None or wake <= deadline) and (limit is None or wake <= limit):
                    # A Worker's asyncio.sleep is the next event: it runs on the emulator's
                    # clock, as setTimeout does (Pyodide's event loop sleeps with setTimeout).
                    if wake > clock.now():
                        clock.advance_to(wake)
                    real.wake_sleeps()
                    if budget is not None:
                        budget.spend()
                    continue
            if deadline is not None and not real.busy:
                return  # the next virtual timer fires
            # Tracked work is waiting on something outside the loop (a thread, a socket, an
            # HTTP request under its client's timeout), or keeps starting more work: wait in
            # real time, a slice at a time, so a sleep it starts next is seen.
            waiter = asyncio.ensure_future(clock.wait_for_sleeper())
            try:
                await asyncio.wait(
                    {*tracker.tasks, waiter},
                    timeout=_REAL_WAIT_SLICE,
                    return_when=FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()

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
            await self._settle(clock, limit=target)
            deadline = clock.next_deadline()
            if deadline is None or deadline > target:
                break
            clock.fire_next()
        clock.advance_to(target)
        await self._settle(clock, limit=target)

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


#: Longest real wait between two looks at the loop while tracked work waits in real time.
_REAL_WAIT_SLICE = 0.02

#: The callback of the timer ``asyncio.sleep`` schedules (CPython's asyncio).
_SLEEP_CALLBACK = getattr(asyncio.futures, "_set_result_unless_cancelled", None)


class _RealTimeWork:
    """What the emulator's own work (tracked tasks and what they start) waits on in real
    time: timers on the event loop created in a tracked context, and jobs in the loop's
    default executor. A test's own timers are not tracked and never hold virtual time."""

    __slots__ = ("busy", "sleep_wake", "sleeps")

    def __init__(self) -> None:
        self.sleeps: list[asyncio.TimerHandle] = []
        self.sleep_wake = 0.0  # virtual time the earliest sleeps end
        self.busy = False  # another real timer (a timeout around I/O) or a thread

    @classmethod
    def scan(
        cls, clock: VirtualClock, wakes: weakref.WeakKeyDictionary[asyncio.TimerHandle, float]
    ) -> _RealTimeWork:
        """Look at the loop's timers and default executor. ``wakes`` remembers each sleep's
        virtual end, fixed when first seen (virtual now + its real time left), so a sleep
        started beside another one ends at its own time, not after the other's."""
        loop = asyncio.get_running_loop()
        work = cls()
        now = loop.time()
        earliest: float | None = None
        for handle in getattr(loop, "_scheduled", ()):  # CPython's timer heap
            if handle.cancelled():
                continue
            context = getattr(handle, "_context", None)
            if context is None or not context.get(tracked, False):
                continue
            if getattr(handle, "_callback", None) is _SLEEP_CALLBACK is not None:
                due = wakes.get(handle)
                if due is None:
                    due = wakes[handle] = clock.now() + max(0.0, handle.when() - now)
                if earliest is None or due < earliest - 1e-9:
                    earliest = due
                    work.sleeps = [handle]
                elif due <= earliest + 1e-9:
                    work.sleeps.append(handle)
            else:
                work.busy = True
        if earliest is not None:
            work.sleep_wake = earliest
        if not work.busy:
            work.busy = _executor_busy(loop)
        return work

    def wake_sleeps(self) -> None:
        """End the earliest sleeps now (their time has passed on the virtual clock)."""
        loop = asyncio.get_running_loop()
        for handle in self.sleeps:
            args = getattr(handle, "_args", None) or ()  # cancel() clears them
            handle.cancel()
            loop.call_soon(_SLEEP_CALLBACK, *args, context=getattr(handle, "_context", None))  # type: ignore[arg-type]


def _executor_busy(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the loop's default executor has a job queued or running (CPython's
    ``ThreadPoolExecutor``; False for any other)."""
    executor = getattr(loop, "_default_executor", None)
    if executor is None:
        return False
    queue = getattr(executor, "_work_queue", None)
    threads = getattr(executor, "_threads", None)
    idle = getattr(executor, "_idle_semaphore", None)
    if queue is None or threads is None or idle is None:
        return False
    if queue.qsize():
        return True
    return len(threads) > getattr(idle, "_value", len(threads))


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
