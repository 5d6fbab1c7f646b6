"""Workflow introspection for tests, as ``@cloudflare/vitest-pool-workers``'
``introspectWorkflowInstance`` and ``introspectWorkflow`` give it, in Python names.

:func:`introspect_workflow_instance` watches and changes one instance (before or after it
is created): mock a step's result or error, force a step or an event wait to time out,
turn sleeps and retry delays off, send a mock event; then wait for a step's result or a
status, driving the emulator's clock, and read the output or the error.
:func:`introspect_workflow` does the same for every instance a Workflow creates while it is
open. Steps are named by their name, or ``(name, index)`` for the ``index``-th step of
that name in a run (1-based; the default index is 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # imported when used: the pytest plugin loads this module
    from cfemu.emulator import Emulator
    from cfemu.workflows.binding import Workflow
    from cfemu.workflows.engine import WorkflowRuntime
    from cfemu.workflows.modifier import Modifier, StepSelector

__all__ = [
    "Step",
    "WorkflowInstanceIntrospector",
    "WorkflowIntrospector",
    "introspect_workflow",
    "introspect_workflow_instance",
]

#: A step: its name (index 1), or ``(name, index)``.
Step = str | tuple[str, int]

#: Steps a wait may take (timers fired, rounds of work) before it gives up.
WAIT_MAX_STEPS: Final = 100_000


def _selector(step: Step) -> StepSelector:
    if isinstance(step, str):
        return (step, 1)
    if (
        isinstance(step, tuple)
        and len(step) == 2
        and isinstance(step[0], str)
        and isinstance(step[1], int)
        and not isinstance(step[1], bool)
        and step[1] >= 1
    ):
        return (step[0], step[1])
    raise TypeError(f"a step is its name or (name, index >= 1), not {step!r}")


def _selectors(steps: Iterable[Step]) -> set[StepSelector] | None:
    found = {_selector(step) for step in steps}
    return found or None


class _Modifying:
    """The modifier methods, shared by both introspectors (``_target`` is what they change)."""

    _target: Modifier

    def disable_sleeps(self, *steps: Step) -> None:
        """``step.sleep``/``sleep_until`` end at once: all of them, or the steps named."""
        self._target.disable_sleeps(_selectors(steps))

    def disable_retry_delays(self, *steps: Step) -> None:
        """Failed attempts retry at once (every attempt still runs): for every step, or the
        steps named."""
        self._target.disable_retry_delays(_selectors(steps))

    def mock_step_result(self, step: Step, result: Any) -> None:
        """The step returns ``result`` without running its function (once per step)."""
        self._target.mock_result(_selector(step), result)

    def mock_step_error(
        self, step: Step, error: BaseException, *, times: int | None = None
    ) -> None:
        """The step's next ``times`` attempts (default: every attempt) fail with ``error``
        before its function runs; retries follow the step's config."""
        self._target.mock_error(_selector(step), error, _times(times))

    def force_step_timeout(self, step: Step, *, times: int | None = None) -> None:
        """The step's next ``times`` attempts (default: every attempt) time out at once."""
        self._target.force_timeout(_selector(step), _times(times))

    def force_event_timeout(self, step: Step) -> None:
        """The ``wait_for_event`` step times out at once."""
        self._target.event_timeouts.add(_selector(step))


def _times(times: int | None) -> int | None:
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError(f"times must be a positive integer or None, not {times!r}")
    return times


class WorkflowInstanceIntrospector(_Modifying):
    """One instance of one Workflow, watched and changed by a test (see
    :func:`introspect_workflow_instance`). A context manager: leaving it disposes it."""

    def __init__(self, emulator: Emulator, runtime: WorkflowRuntime, instance_id: str) -> None:
        self.emulator = emulator
        self.runtime = runtime
        self.id = instance_id
        from cfemu.workflows.modifier import Modifier

        existing = runtime.modifiers.get(instance_id)
        self._target = existing if existing is not None else Modifier()
        runtime.modifiers[instance_id] = self._target

    def __repr__(self) -> str:
        return f"WorkflowInstanceIntrospector({self.runtime.name!r}, id={self.id!r})"

    def mock_event(self, event_type: str, payload: Any = None) -> None:
        """Deliver an event of ``event_type`` to the instance's ``wait_for_event`` (queued
        until a wait takes it, even when the instance does not exist yet)."""
        if not isinstance(event_type, str) or not event_type:
            raise TypeError("mock_event: the event type must be a non-empty string")
        self.runtime.queue_event(self.id, event_type, payload)

    # --- reading -------------------------------------------------------------------------
    def status(self) -> str:
        """The instance's status (``"unknown"`` before it exists)."""
        row = self.runtime.store.instance(self.runtime.name, self.id)
        return "unknown" if row is None else row.status

    def step_result(self, step: Step) -> tuple[bool, Any]:
        """``(True, result)`` once the ``step.do`` has a recorded result, else
        ``(False, None)``."""
        name, index = _selector(step)
        return self.runtime.store.step(self.runtime.name, self.id, f"do:{name}-{index}")

    def get_output(self) -> Any:
        """What ``run()`` returned; ``ValueError`` unless the instance is ``complete``."""
        row = self.runtime.store.instance(self.runtime.name, self.id)
        if row is None or row.status != "complete":
            raise ValueError(f"{self!r} is {self.status()!r}, not 'complete'")
        return row.output

    def get_error(self) -> dict[str, str]:
        """The instance's error ``{"name", "message"}``; ``ValueError`` unless ``errored``."""
        row = self.runtime.store.instance(self.runtime.name, self.id)
        if row is None or row.status != "errored" or row.error is None:
            raise ValueError(f"{self!r} is {self.status()!r}, not 'errored'")
        return row.error

    # --- waiting ---------------------------------------------------------------------------
    def _finished(self) -> bool:
        from cfemu.workflows.engine import FINITE

        return self.status() in FINITE

    async def _run_until(self, done: Any, what: str, max_seconds: float | None) -> None:
        reached = await self.emulator._time.run_until(
            done, max_steps=WAIT_MAX_STEPS, max_seconds=max_seconds
        )
        if not reached:
            from cfemu.clock import VirtualClock

            virtual = isinstance(self.emulator.clock, VirtualClock)
            raise TimeoutError(
                f"{self!r} never got to {what}: it is {self.status()!r} and "
                + ("nothing more can happen" if virtual else f"{max_seconds} s passed")
            )

    async def wait_for_status(self, status: str, *, max_seconds: float | None = 60.0) -> None:
        """Run the emulator (firing timers on a virtual clock) until the instance is
        ``status``. ``ValueError`` when it finishes with another status; ``TimeoutError``
        when nothing more can happen (virtual clock) or after ``max_seconds`` (real clock)."""
        await self._run_until(
            lambda: self.status() == status or self._finished(),
            f"status {status!r}",
            max_seconds,
        )
        if self.status() != status:
            raise ValueError(f"{self!r} finished as {self.status()!r}, not {status!r}")

    async def wait_for_step_result(self, step: Step, *, max_seconds: float | None = 60.0) -> Any:
        """Run the emulator until the ``step.do`` has a result; that result. ``ValueError``
        when the instance finishes without it (e.g. the step failed)."""
        await self._run_until(
            lambda: self.step_result(step)[0] or self._finished(),
            f"a result of step {step!r}",
            max_seconds,
        )
        found, value = self.step_result(step)
        if not found:
            raise ValueError(f"{self!r} finished as {self.status()!r} without step {step!r}")
        return value

    # --- disposing -------------------------------------------------------------------------
    def dispose(self) -> None:
        """Remove this introspector's changes (steps already run keep their results)."""
        if self.runtime.modifiers.get(self.id) is self._target:
            del self.runtime.modifiers[self.id]

    def __enter__(self) -> WorkflowInstanceIntrospector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dispose()


class WorkflowIntrospector(_Modifying):
    """Every instance a Workflow creates while it is open (see :func:`introspect_workflow`).
    A context manager: leaving it disposes it."""

    def __init__(self, emulator: Emulator, runtime: WorkflowRuntime) -> None:
        from cfemu.workflows.modifier import Modifier

        self.emulator = emulator
        self.runtime = runtime
        self._target = Modifier()
        self._instances: list[WorkflowInstanceIntrospector] = []
        self._events: list[tuple[str, Any]] = []
        runtime.on_create.append(self._created)

    def __repr__(self) -> str:
        return f"WorkflowIntrospector({self.runtime.name!r})"

    def _created(self, instance_id: str) -> None:
        self.runtime.modifiers[instance_id] = self._target.copy()
        instance = WorkflowInstanceIntrospector(self.emulator, self.runtime, instance_id)
        for event_type, payload in self._events:
            instance.mock_event(event_type, payload)
        self._instances.append(instance)

    def mock_event(self, event_type: str, payload: Any = None) -> None:
        """Deliver this event to each instance created from now on."""
        if not isinstance(event_type, str) or not event_type:
            raise TypeError("mock_event: the event type must be a non-empty string")
        self._events.append((event_type, payload))

    def get_instances(self) -> list[WorkflowInstanceIntrospector]:
        """An introspector for each instance created since this one opened, oldest first."""
        return list(self._instances)

    def dispose(self) -> None:
        """Stop changing new instances and remove the changes made to those created."""
        if self._created in self.runtime.on_create:
            self.runtime.on_create.remove(self._created)
        for instance in self._instances:
            instance.dispose()

    def __enter__(self) -> WorkflowIntrospector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dispose()


def _runtime(emulator: Emulator, workflow: Workflow | str) -> WorkflowRuntime:
    from cfemu.workflows.service import WorkflowsService

    return emulator.service(WorkflowsService).runtime_for(workflow)


def introspect_workflow_instance(
    emulator: Emulator, workflow: Workflow | str, instance_id: str
) -> WorkflowInstanceIntrospector:
    """Watch and change the instance ``instance_id`` of ``workflow`` (its binding, e.g.
    ``emulator.env.ORDERS``, or its name), created already or not yet. Dispose it (or use
    it as a context manager) to remove its changes."""
    return WorkflowInstanceIntrospector(emulator, _runtime(emulator, workflow), instance_id)


def introspect_workflow(emulator: Emulator, workflow: Workflow | str) -> WorkflowIntrospector:
    """Change every instance ``workflow`` creates from now until it is disposed; its
    :meth:`~WorkflowIntrospector.get_instances` are introspectors of those instances."""
    return WorkflowIntrospector(emulator, _runtime(emulator, workflow))
