"""How a long D1 query shares the event loop with everything else (``cfemu dev``).

Measured (docs/d1.md, "Execution design"; ``benchmarks/bench_d1_loop.py``): a point query
costs a few microseconds on the loop thread and 30-100 times more with a hop to a thread,
so queries run on the loop, as workerd runs SQLite. But a query that runs for seconds
would stall every other request meanwhile. So each D1 call first runs on the loop with a
time slice (:data:`LOOP_SLICE_SECONDS`, real time, checked by the query's progress
handler); a query still running at the end of its slice is interrupted (SQLite rolls it
back: nothing of it is visible) and runs again from the start on the database's own
thread, while the loop serves other work. Calls made meanwhile on the same database wait
for it, as D1 runs one query at a time. The query's duration limit keeps counting from
its first start. SQL texts that needed the thread go there directly next time.

Only with a real clock: under a :class:`~cfemu.clock.VirtualClock` every query stays on
the loop, so tests stay deterministic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final, TypeVar

from cfemu.d1._deadline import PROGRESS_STEPS
from cfemu.errors import D1Error

if TYPE_CHECKING:
    from cfemu.d1.engine import Engine

__all__ = ["LOOP_SLICE_SECONDS", "MOVE", "LoopShare", "Move"]

#: Real seconds a D1 query may hold the event loop before it moves to a thread.
LOOP_SLICE_SECONDS: Final = 0.05
_MAX_REMEMBERED: Final = 1024

_T = TypeVar("_T")


class Move:
    """The type of :data:`MOVE`."""

    __slots__ = ()


#: What :meth:`LoopShare.here` returns when the call could not finish on the loop: it must
#: wait for the database's thread, or run on it (:meth:`LoopShare.moved`).
MOVE: Final = Move()


class LoopShare:
    """One database's way of running calls: on the loop first, on its thread if long."""

    __slots__ = ("_busy", "_engine", "_executor", "loop_slice", "slow")

    def __init__(self, engine: Engine, loop_slice: float | None) -> None:
        self._engine = engine
        #: ``None``: every query stays on the loop (virtual clock).
        self.loop_slice = loop_slice
        self._executor: ThreadPoolExecutor | None = None
        self._busy: asyncio.Future[None] | None = None
        #: SQL texts whose query needed the thread last time.
        self.slow: set[str] = set()

    async def run(self, unit: Callable[[], _T], sql: str | None = None) -> _T:
        """Run ``unit`` (synchronous engine work, all of one D1 call) and return its result.

        ``sql``, for a single statement, lets a text known to be slow skip the loop.
        """
        while self._busy is not None:  # D1 runs one query at a time
            await asyncio.shield(self._busy)
        result = self.here(unit, sql)
        return await self._on_thread(unit) if isinstance(result, Move) else result

    def here(self, unit: Callable[[], _T], sql: str | None = None) -> _T | Move:
        """:meth:`run` without a coroutine when it can: ``unit``'s result if it ran to the
        end on the loop now, or :data:`MOVE` when the call must wait for the database's
        thread or go there (then ``await`` :meth:`moved`). The hot paths call this first."""
        if self._busy is not None:
            return MOVE
        loop_slice = self.loop_slice
        if loop_slice is None:
            return unit()
        if sql is not None and sql in self.slow:
            return MOVE
        deadline = self._engine.deadline
        deadline.loop_slice = loop_slice
        try:
            return unit()
        except D1Error:
            if not deadline.sliced:
                raise
            deadline.resume_from = deadline.last_started
            if sql is not None:
                if len(self.slow) >= _MAX_REMEMBERED:
                    self.slow.clear()
                self.slow.add(sql)
        finally:
            deadline.loop_slice = None
        return MOVE

    async def moved(self, unit: Callable[[], _T], sql: str | None = None) -> _T:
        """Finish a call :meth:`here` answered with :data:`MOVE` (nothing ran since)."""
        if self._busy is not None:
            return await self.run(unit, sql)  # wait for the thread, then as usual
        return await self._on_thread(unit)  # interrupted at its slice, or known slow

    async def _on_thread(self, unit: Callable[[], _T]) -> _T:
        engine = self._engine
        conn = engine.conn
        deadline = engine.deadline
        loop = asyncio.get_running_loop()
        if self._executor is None:
            name = f"cfemu-d1-{engine.binding}"
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        started = deadline.resume_from
        if started is None:
            started = deadline.resume_from = time.monotonic()
        # On the thread the query needs no Python progress handler (which would take the
        # GIL from the loop every few hundred microseconds): its duration limit is a timer
        # that interrupts the connection. Real time on purpose, not the emulator's clock:
        # D1's limit is the query's wall time.
        conn.set_progress_handler(None, 0)
        limit = deadline.limit
        timer = (
            None
            if limit is None
            else loop.call_later(max(0.0, started + limit - time.monotonic()), conn.interrupt)
        )
        busy = self._busy = loop.create_future()
        job = loop.run_in_executor(self._executor, unit)
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            # The caller is gone: stop the query (it is rolled back). An interrupt before
            # the thread started the statement does nothing, so repeat it until it lands.
            while not job.done():
                conn.interrupt()
                await asyncio.wait([job], timeout=0.01)
            if not job.cancelled():
                job.exception()  # retrieved: the interrupted query's error goes nowhere
            raise
        finally:
            if timer is not None:
                timer.cancel()
            conn.set_progress_handler(deadline, PROGRESS_STEPS)
            self._busy = None
            busy.set_result(None)

    def close(self) -> None:
        """Stop the thread (a query still on it is interrupted first)."""
        if self._executor is not None:
            if self._busy is not None:
                self._engine.conn.interrupt()
            self._executor.shutdown(wait=True)
            self._executor = None
