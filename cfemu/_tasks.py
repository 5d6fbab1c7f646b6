"""Background work the emulator must wait for (deliveries, ``waitUntil``) and a way to close it."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

__all__ = ["TaskTracker", "tracked"]

#: True in the context of every tracked task and of what it starts (tasks, timers, readers
#: inherit the context they are created in): how ``drain()`` tells the real-time waits of the
#: emulator's own work (a Worker's ``asyncio.sleep``, an HTTP timeout) from a test's.
tracked: contextvars.ContextVar[bool] = contextvars.ContextVar("cfemu_tracked", default=False)


def _mark_tracked() -> None:
    tracked.set(True)


class TaskTracker:
    """Owns asyncio tasks started on the emulator's behalf.

    ``drain()`` waits on :attr:`tasks`; ``aclose()`` cancels what is left, so no task
    outlives ``async with emulator``.
    """

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Start ``coro`` as a tracked task."""
        if tracked.get():
            context = None  # already tracked: the task copies the current context
        else:
            context = contextvars.copy_context()
            context.run(_mark_tracked)
        task = asyncio.get_running_loop().create_task(coro, name=name, context=context)
        self.tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not self.tasks:
            self._idle.set()

    def __len__(self) -> int:
        return len(self.tasks)

    async def wait_idle(self) -> None:
        """Wait until no tracked task is running (tasks may start more tasks)."""
        while self.tasks:
            await self._idle.wait()

    async def aclose(self) -> None:
        """Cancel every tracked task and wait for them to finish."""
        while self.tasks:
            pending = list(self.tasks)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
