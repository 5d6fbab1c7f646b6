"""One consumer invocation: the handler, bounded by the wall-clock limit, its failures contained.

spec: queues.md §2 ("Consumer duration (wall clock time): 15 minutes"). Cloudflare ends an
invocation that runs past the limit (its outcome is ``exceededWallTime``) and the attempt
counts as failed: the batch's messages are retried or dead-lettered as after a throw. The
limit runs on the emulator's clock, so under a :class:`~cfemu.clock.VirtualClock` a stuck
consumer fails after 15 virtual minutes without anyone waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from cfemu._contain import contained
from cfemu.clock import Clock, TimerHandle

__all__ = ["WALL_TIME_OUTCOME", "Watchdog", "run_consumer"]

#: How Cloudflare's logs name the outcome of an invocation ended at its wall-clock limit.
WALL_TIME_OUTCOME = "exceededWallTime"


class _Watch:
    """One invocation under the wall-clock limit: its task, deadline and whether it was ended."""

    __slots__ = ("deadline", "expired", "task")

    def __init__(self, task: asyncio.Task[Any], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.expired = False


class Watchdog:
    """The wall-clock limit of every consumer invocation of a broker, with one timer.

    The timer is armed at the earliest deadline of the invocations running, and stays armed
    from one invocation to the next (firing early, it re-arms for the invocations then
    running, or not at all when none is). :meth:`idle`, called when no delivery is left,
    cancels it under a :class:`~cfemu.clock.VirtualClock`, where ``drain()`` jumps to the
    next timer, so none may linger once nothing runs; on the real clock nothing waits for
    it, so it is left armed and deliveries that come and go do not make one timer each.
    (One timer created and cancelled per invocation cost a sixth of a batch-size-1
    invocation.) :meth:`close` cancels it in any case.
    """

    __slots__ = ("_clock", "_linger", "_running", "_timer")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._linger = not clock.is_virtual
        self._running: dict[_Watch, None] = {}
        self._timer: TimerHandle | None = None

    def watch(self, task: asyncio.Task[Any], deadline: float) -> _Watch:
        """End ``task`` (cancel it, marking the watch expired) if it runs past ``deadline``."""
        watch = _Watch(task, deadline)
        self._running[watch] = None
        timer = self._timer
        if timer is None or deadline < timer.when:
            if timer is not None:
                timer.cancel()
            self._timer = self._clock.call_at(deadline, self._fire)
        return watch

    def unwatch(self, watch: _Watch) -> None:
        """The invocation is over (its timer, if any, is left for the next one)."""
        del self._running[watch]

    def idle(self) -> None:
        """No delivery is left: cancel the timer (on a virtual clock)."""
        if self._timer is not None and not self._linger:
            self.close()

    def close(self) -> None:
        """Cancel the timer (the broker is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        now = self._clock.now()
        earliest: float | None = None
        for watch in self._running:
            if watch.expired:
                continue
            if watch.deadline <= now + _EPSILON:
                watch.expired = True
                watch.task.cancel()
            elif earliest is None or watch.deadline < earliest:
                earliest = watch.deadline
        if earliest is not None:
            self._timer = self._clock.call_at(earliest, self._fire)


_EPSILON = 1e-6  # a real-clock timer may fire a hair early


async def run_consumer(
    handler: Callable[[Any], Awaitable[None]],
    batch: Any,
    *,
    queue: str,
    watchdog: Watchdog,
    started: float,
    limit: float | None,
    logger: logging.Logger,
) -> tuple[bool, Exception | None]:
    """Await ``handler(batch)``; return ``(failed, error)``.

    ``error`` is what the handler raised (``SystemExit`` and the like contained as a
    :class:`~cfemu.errors.WorkerEscapeError`), ``None`` when it returned or was ended at
    ``limit`` seconds after ``started`` (by ``watchdog``; that is logged here). Only a
    cancellation by cfemu itself (shutdown) propagates, as ``CancelledError``.
    """
    task = asyncio.current_task()
    watch = None
    if limit is not None and task is not None:
        watch = watchdog.watch(task, started + limit)
    try:
        await handler(batch)
        error: BaseException | None = None
    except BaseException as caught:
        error = caught
    finally:
        if watch is not None:
            watchdog.unwatch(watch)
    if watch is not None and watch.expired:
        assert task is not None
        if task.uncancel() == 0 and (error is None or isinstance(error, asyncio.CancelledError)):
            logger.error(
                'Queue "%s": the consumer invocation exceeded its wall-clock limit of %g s '
                "(outcome: %s); the attempt failed",
                queue,
                limit,
                WALL_TIME_OUTCOME,
            )
            return True, None
    if error is None:
        return False, None
    return True, contained(error, f"the consumer of queue {queue!r}", "queue()")
