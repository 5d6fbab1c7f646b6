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
from cfemu.clock import Clock

__all__ = ["WALL_TIME_OUTCOME", "run_consumer"]

#: How Cloudflare's logs name the outcome of an invocation ended at its wall-clock limit.
WALL_TIME_OUTCOME = "exceededWallTime"


async def run_consumer(
    handler: Callable[[Any], Awaitable[None]],
    batch: Any,
    *,
    queue: str,
    clock: Clock,
    started: float,
    limit: float | None,
    logger: logging.Logger,
) -> tuple[bool, Exception | None]:
    """Await ``handler(batch)``; return ``(failed, error)``.

    ``error`` is what the handler raised (``SystemExit`` and the like contained as a
    :class:`~cfemu.errors.WorkerEscapeError`), ``None`` when it returned or was ended at
    ``limit`` seconds after ``started`` (on ``clock``; that is logged here). Only a
    cancellation by cfemu itself (shutdown) propagates, as ``CancelledError``.
    """
    task = asyncio.current_task()
    expired = False
    timer = None
    if limit is not None and task is not None:

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = clock.call_at(started + limit, expire)
    try:
        await handler(batch)
        error: BaseException | None = None
    except BaseException as caught:
        error = caught
    finally:
        if timer is not None:
            timer.cancel()
    if expired:
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
