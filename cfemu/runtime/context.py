"""``ExecutionContext`` (``self.ctx``) and ``ScheduledController``, as Workers see them.

spec: workers-and-config.md §1. ``waitUntil`` work runs as a task on the emulator's
:class:`~cfemu._tasks.TaskTracker`, so ``drain()`` waits for it. Like JavaScript's
``Promise.allSettled``, one failing piece of work does not cancel the others; every failure
is logged. After a ``queue``/``scheduled`` event the Worker awaits the event's work and a
failure fails the invocation (spec: queues.md §4.2); after a ``fetch`` the response goes
out at once and the work continues.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any

from cfemu._contain import contained
from cfemu._js import JsDict
from cfemu._tasks import TaskTracker
from cfemu.runtime._modules import ModuleSpace, run_in
from cfemu.runtime._scope import import_scope

__all__ = ["ExecutionContext", "ScheduledController"]


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class ExecutionContext:
    """``self.ctx`` of a Worker: ``waitUntil``, ``passThroughOnException``, ``props``.

    One context per event. ``waitUntil`` (and the SDK's ``wait_until`` spelling) accepts a
    coroutine or any awaitable.
    """

    __slots__ = (
        "_errors",
        "_logger",
        "_modules",
        "_paths",
        "_pending",
        "_props",
        "_tracker",
        "_worker_name",
        "pass_through_on_exception",
    )

    def __init__(
        self,
        tracker: TaskTracker,
        *,
        worker_name: str = "worker",
        logger: logging.Logger | None = None,
        props: dict[str, Any] | None = None,
        import_paths: tuple[str, ...] = (),
        modules: ModuleSpace | None = None,
    ) -> None:
        self._tracker = tracker
        self._worker_name = worker_name
        self._logger = logger or logging.getLogger("cfemu.runtime")
        self._paths = import_paths
        self._modules = modules
        # Made on the first waitUntil (most events have none): see _started.
        self._pending: set[asyncio.Task[Any]] | None = None
        self._errors: list[BaseException] | None = None
        #: Set by :meth:`passThroughOnException`.
        self.pass_through_on_exception = False
        self._props: Any = props

    @classmethod
    def _of_event(
        cls,
        tracker: TaskTracker,
        worker_name: str,
        logger: logging.Logger,
        import_paths: tuple[str, ...],
        modules: ModuleSpace | None,
    ) -> ExecutionContext:
        """The context of one event of a Worker (its per-event hot path: no keywords)."""
        ctx = cls.__new__(cls)
        ctx._tracker = tracker
        ctx._worker_name = worker_name
        ctx._logger = logger
        ctx._paths = import_paths
        ctx._modules = modules
        ctx._pending = None
        ctx._errors = None
        ctx.pass_through_on_exception = False
        ctx._props = None
        return ctx

    @property
    def props(self) -> JsDict:
        """``ctx.props``: JSON from the service binding that called the Worker (none
        locally: an empty dict)."""
        props = self._props
        if type(props) is not JsDict:
            props = self._props = JsDict(props or {})
        return props

    @props.setter
    def props(self, value: Any) -> None:
        self._props = value

    def waitUntil(self, awaitable: Awaitable[Any]) -> None:
        """Keep the invocation alive until ``awaitable`` settles; its result is ignored."""
        if inspect.iscoroutine(awaitable):
            coro: Coroutine[Any, Any, Any] = awaitable
        elif inspect.isawaitable(awaitable):
            coro = _await(awaitable)
        else:
            raise TypeError(
                f"waitUntil() expects a coroutine or awaitable, got {type(awaitable).__name__}"
            )
        task = self._tracker.spawn(self._run(coro), name=f"{self._worker_name}:waitUntil")
        pending = self._pending
        if pending is None:
            pending = self._pending = set()
        pending.add(task)
        task.add_done_callback(pending.discard)
        # Cancelled before it started (emulator shutdown): close the work, so Python does
        # not warn that it was never awaited. Closing finished work does nothing.
        task.add_done_callback(lambda _: coro.close())

    def wait_until(self, awaitable: Awaitable[Any]) -> None:
        """The SDK's snake_case spelling of :meth:`waitUntil`."""
        self.waitUntil(awaitable)

    def passThroughOnException(self) -> None:
        """Ask to fail open to the origin on an uncaught exception (``fetch`` only).

        cfemu has no origin to fall back to: the request still gets a 500, and the log
        says the Worker asked for pass-through.
        """
        self.pass_through_on_exception = True

    async def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        with import_scope.active(self._paths):
            try:
                await run_in(self._modules, coro)
            except BaseException as caught:
                # SystemExit & co. fail the event's work, never the emulator (_contain).
                exc = contained(caught, self._worker_name, "a waitUntil() task")
                if self._errors is None:
                    self._errors = []
                self._errors.append(exc)
                self._logger.error(
                    "Worker %r: a waitUntil() task failed", self._worker_name, exc_info=exc
                )

    def cancel_pending(self) -> None:
        """End this event's ``waitUntil`` work (its invocation was ended)."""
        for task in self._pending or ():
            task.cancel()

    @property
    def pending(self) -> int:
        """Number of ``waitUntil`` tasks of this event still running."""
        return len(self._pending or ())

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised by this event's ``waitUntil`` work so far."""
        return list(self._errors or ())

    async def settle(self) -> None:
        """Wait for every ``waitUntil`` task (including ones they start); raise the first
        failure, as a queue or cron invocation fails when its ``waitUntil`` work fails."""
        while self._pending:
            await asyncio.wait(list(self._pending))
        if self._errors:
            raise self._errors[0]


class ScheduledController:
    """The event a Worker's ``scheduled`` handler receives.

    ``cron`` is the trigger exactly as configured, ``scheduledTime`` the time it was due in
    milliseconds since the Unix epoch, ``type`` is ``"scheduled"``.
    """

    __slots__ = ("cron", "no_retry", "scheduledTime", "type")

    def __init__(self, cron: str, scheduledTime: int) -> None:
        self.cron = cron
        self.scheduledTime = scheduledTime
        self.type = "scheduled"
        #: Whether the handler called :meth:`noRetry`.
        self.no_retry = False

    def noRetry(self) -> None:
        """Ask Cloudflare not to retry this invocation if it fails."""
        self.no_retry = True

    def __repr__(self) -> str:
        return f"ScheduledController(cron={self.cron!r}, scheduledTime={self.scheduledTime})"
