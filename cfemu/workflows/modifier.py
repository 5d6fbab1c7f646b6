"""What a test changed about an instance: mocked step results and errors, forced timeouts,
sleeps and retry delays turned off (the engine side of
:func:`cfemu.testing.introspect_workflow_instance`).

A :class:`Modifier` belongs to one instance id (or, as a template, to every instance a
Workflow creates while a :func:`cfemu.testing.introspect_workflow` session is open). The
step API asks it at each step; an instance without one pays nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Modifier", "StepSelector"]

#: ``(step name, index)``: the ``index``-th step of that name in a run (1-based).
StepSelector = tuple[str, int]


@dataclass
class _Forced:
    """Attempts to fail: ``remaining`` of them (``None``: every one)."""

    remaining: int | None

    def take(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


@dataclass
class Modifier:
    """Mocks and switches for one instance's steps."""

    #: Sleeps that end at once (``no_sleeps_all``: every one).
    no_sleeps: set[StepSelector] = field(default_factory=set)
    no_sleeps_all: bool = False
    #: Steps that retry without waiting (``no_retry_delays_all``: every one).
    no_retry_delays: set[StepSelector] = field(default_factory=set)
    no_retry_delays_all: bool = False
    results: dict[StepSelector, Any] = field(default_factory=dict)
    errors: dict[StepSelector, tuple[BaseException, _Forced]] = field(default_factory=dict)
    timeouts: dict[StepSelector, _Forced] = field(default_factory=dict)
    event_timeouts: set[StepSelector] = field(default_factory=set)

    def copy(self) -> Modifier:
        """A fresh copy (a template's, for one new instance)."""
        return copy.deepcopy(self)

    # --- what the step API asks ------------------------------------------------------------
    def sleep_disabled(self, name: str, count: int) -> bool:
        """Whether this sleep ends at once."""
        return self.no_sleeps_all or (name, count) in self.no_sleeps

    def retry_delay_disabled(self, name: str, count: int) -> bool:
        """Whether this step retries without waiting."""
        return self.no_retry_delays_all or (name, count) in self.no_retry_delays

    def mocked_result(self, name: str, count: int) -> tuple[bool, Any]:
        """``(True, result)`` when the step's result is mocked (its function never runs)."""
        if (name, count) in self.results:
            return True, self.results[name, count]
        return False, None

    def attempt_error(self, name: str, count: int) -> BaseException | None:
        """The error this attempt fails with, if one is mocked for it."""
        found = self.errors.get((name, count))
        if found is not None and found[1].take():
            return found[0]
        return None

    def attempt_times_out(self, name: str, count: int) -> bool:
        """Whether this attempt is forced to time out."""
        found = self.timeouts.get((name, count))
        return found is not None and found.take()

    def event_times_out(self, name: str, count: int) -> bool:
        """Whether this ``wait_for_event`` times out at once."""
        return (name, count) in self.event_timeouts

    # --- what a test sets ------------------------------------------------------------------
    def disable_sleeps(self, steps: set[StepSelector] | None) -> None:
        """Sleeps (all, or the selected ones) end at once."""
        if steps is None:
            self.no_sleeps_all = True
        else:
            self.no_sleeps |= steps

    def disable_retry_delays(self, steps: set[StepSelector] | None) -> None:
        """Retries (of all steps, or of the selected ones) start at once."""
        if steps is None:
            self.no_retry_delays_all = True
        else:
            self.no_retry_delays |= steps

    def mock_result(self, step: StepSelector, result: Any) -> None:
        """The step returns ``result`` without running (once per step)."""
        if step in self.results:
            raise ValueError(f"step {step[0]!r} (index {step[1]}) has a mocked result already")
        self.results[step] = result

    def mock_error(self, step: StepSelector, error: BaseException, times: int | None) -> None:
        """The step's attempts (the next ``times``, or all) fail with ``error``."""
        if step in self.results:
            raise ValueError(f"step {step[0]!r} (index {step[1]}) has a mocked result")
        self.errors[step] = (error, _Forced(times))

    def force_timeout(self, step: StepSelector, times: int | None) -> None:
        """The step's attempts (the next ``times``, or all) time out."""
        if step in self.results:
            raise ValueError(f"step {step[0]!r} (index {step[1]}) has a mocked result")
        self.timeouts[step] = _Forced(times)
