"""One live Workflow instance: its task, its status and pause bookkeeping, its clock waits.

:class:`LiveInstance` is what :class:`~cfemu.workflows.step.WorkflowStep` talks to while an
instance's ``run()`` executes: the store (recorded steps, under the instance's storage
limit), the step boundary where a pause takes effect, the clock (timeouts, sleeps, retry
delays, event deadlines).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from cfemu.workflows.errors import InstanceFatal, WorkflowError, WorkflowTimeoutError

if TYPE_CHECKING:
    from cfemu.workflows.engine import WorkflowRuntime
    from cfemu.workflows.modifier import Modifier

__all__ = ["LiveInstance", "Paused"]


class Paused(BaseException):
    """Ends a paused instance's task at a step boundary (its recorded steps stay)."""


class LiveInstance:
    """One instance's running task and its pause/event bookkeeping."""

    def __init__(self, runtime: WorkflowRuntime, instance_id: str) -> None:
        self.runtime = runtime
        self.id = instance_id
        self.clock = runtime.clock
        self.task: asyncio.Task[None] | None = None
        #: Set when the runtime stops the task (terminate, restart, delete, a pause while
        #: waiting): what the task does as it unwinds no longer changes the status.
        self.stopped = False
        self.pause_requested = False
        #: Steps running now (attempts and the delays between them; concurrent steps count
        #: one each): a pause waits for them (``waitingForPause``).
        self.steps_running = 0
        self.waiting = False
        self.wakers: list[asyncio.Future[None]] = []
        self._state_bytes: int | None = None
        #: What ended the instance at once (it ends ``errored`` whatever ``run()`` does).
        self.fatal: InstanceFatal | None = None

    @property
    def in_step(self) -> bool:
        """Whether a step (an attempt, or the delay before a retry) is running."""
        return self.steps_running > 0

    @property
    def modifier(self) -> Modifier | None:
        """What a test changed about this instance (``None``: nothing)."""
        return self.runtime.modifiers.get(self.id)

    # --- status ------------------------------------------------------------------------------
    def set_status(self, status: str) -> None:
        """Record a (non-finite) status (nothing once the task was stopped)."""
        if not self.stopped:
            self.runtime.store.set_status(self.runtime.name, self.id, status)

    def status(self) -> str:
        """The recorded status."""
        row = self.runtime.store.instance(self.runtime.name, self.id)
        return "unknown" if row is None else row.status

    async def checkpoint(self) -> None:
        """A step boundary: a paused instance's task ends here (``resume()`` replays it)."""
        if self.fatal is not None:
            raise self.fatal
        if self.pause_requested:
            self.set_status("paused")
            self.runtime.store.set_paused(self.runtime.name, self.id, self.clock.now_ms())
            raise Paused
        self.set_status("running")

    # --- the store ---------------------------------------------------------------------------
    def recorded(self, key: str) -> tuple[bool, Any]:
        """Whether ``key`` is recorded, and its value."""
        return self.runtime.store.step(self.runtime.name, self.id, key)

    def record(self, key: str, value_json: str) -> None:
        """Record ``key``'s value (JSON text); past the instance's storage limit
        (``runtime.state_limit``) the instance ends ``errored``, as on Cloudflare."""
        runtime = self.runtime
        size = len(key) + len(value_json.encode())
        if self._state_bytes is None:
            self._state_bytes = runtime.store.state_bytes(runtime.name, self.id)
        if self._state_bytes + size > runtime.state_limit:
            self.fatal = InstanceFatal("The instance has exceeded the 1GiB storage limit")
            raise self.fatal
        runtime.store.record_step(runtime.name, self.id, key, value_json)
        self._state_bytes += size

    def check_step_limit(self, steps: int) -> None:
        """Refuse a step past ``[[workflows]] limits.steps``."""
        limit = self.runtime.step_limit
        if steps > limit:
            raise WorkflowError(
                f"The limit of {limit} steps has been reached. This limit can be changed in "
                "your worker configuration."
            )

    def check_fault(self, step_name: str) -> None:
        """A fault armed for ``workflows.step`` on this step (target ``<workflow>:<step>``)."""
        if self.runtime.faults:
            self.runtime.faults.check("workflows.step", f"{self.runtime.name}:{step_name}")

    # --- time --------------------------------------------------------------------------------
    async def with_timeout(self, coro: Coroutine[Any, Any, Any], timeout_ms: float) -> Any:
        """Await ``coro``, cancelled with ``WorkflowTimeoutError`` after ``timeout_ms`` of the
        emulator's clock."""
        task = asyncio.ensure_future(coro)
        timed_out = False

        def expire() -> None:
            nonlocal timed_out
            if not task.done():
                timed_out = True
                task.cancel()

        handle = self.clock.call_later(timeout_ms / 1000, expire)
        self.steps_running += 1
        try:
            return await task
        except asyncio.CancelledError:
            if timed_out:
                message = f"Execution timed out after {int(timeout_ms)}ms"
                raise WorkflowTimeoutError(message) from None
            raise
        finally:
            self.steps_running -= 1
            handle.cancel()
            if self.pause_requested:
                self.set_status("waitingForPause")

    async def retry_delay(self, seconds: float) -> None:
        """The delay between two attempts of a step: still the step (a pause waits for the
        step's last attempt)."""
        self.steps_running += 1
        try:
            await self.clock.sleep(seconds)
        finally:
            self.steps_running -= 1

    async def wait_until(self, wake_ms: float) -> None:
        """Sleep (status ``waiting``) until the clock reaches ``wake_ms``."""
        remaining = wake_ms / 1000 - self.clock.now()
        if remaining > 0:
            self.set_status("paused" if self.pause_requested else "waiting")
            self.waiting = True
            try:
                await self.clock.sleep(remaining)
            finally:
                self.waiting = False
        await self.checkpoint()

    async def next_event(self, event_type: str, key: str, deadline_ms: float) -> Any | None:
        """The next event of ``event_type`` (moved into step ``key``), or ``None`` once the
        clock reaches ``deadline_ms``."""
        runtime = self.runtime
        while True:
            event = runtime.store.take_event(runtime.name, self.id, event_type, key)
            if event is not None:
                self.set_status("running")
                return event
            if self.clock.now() * 1000 >= deadline_ms:
                self.set_status("running")
                return None
            self.set_status("paused" if self.pause_requested else "waiting")
            waker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.wakers.append(waker)

            def wake(waker: asyncio.Future[None] = waker) -> None:
                if not waker.done():
                    waker.set_result(None)

            handle = self.clock.call_at(deadline_ms / 1000, wake)
            self.waiting = True
            try:
                await waker
            finally:
                self.waiting = False
                handle.cancel()
                if waker in self.wakers:
                    self.wakers.remove(waker)

    def wake(self) -> None:
        """An event arrived: wake every ``wait_for_event``."""
        for waker in list(self.wakers):
            if not waker.done():
                waker.set_result(None)
