"""The entrypoint base classes of Cloudflare's Python ``workers`` module.

``class Default(WorkerEntrypoint)`` is what cfemu runs. ``DurableObject`` and
``WorkflowEntrypoint`` can be subclassed (so a Worker module that defines them still
imports) but cfemu does not emulate them: creating one raises
:class:`~cfemu.errors.NotEmulatedError`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from cfemu.errors import NotEmulatedError

__all__ = ["Context", "DurableObject", "WorkerEntrypoint", "WorkflowEntrypoint"]


class Context(Protocol):
    """What ``self.ctx`` offers to the SDK's type hints: ``waitUntil``."""

    def waitUntil(self, other: Awaitable[Any]) -> None:
        """Keep the invocation alive until ``other`` settles."""


class WorkerEntrypoint:
    """Base class of a Worker's entrypoint: ``class Default(WorkerEntrypoint)``.

    cfemu creates one instance per event with the event's ``ctx`` and the Worker's ``env``,
    then calls its ``fetch``/``queue``/``scheduled`` method.
    """

    ctx: Any
    env: Any

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


class DurableObject:
    """Base class of a Durable Object. Not emulated by cfemu: instantiating one raises."""

    ctx: Any
    env: Any

    def __init__(self, ctx: Any, env: Any) -> None:
        raise NotEmulatedError(
            f"{type(self).__name__}: Durable Objects are not emulated by cfemu (the class "
            "may be defined, but cfemu cannot create or route to instances)"
        )


class WorkflowEntrypoint:
    """Base class of a Workflow. Not emulated by cfemu: instantiating one raises."""

    ctx: Any
    env: Any

    def __init__(self, ctx: Any, env: Any) -> None:
        raise NotEmulatedError(
            f"{type(self).__name__}: Workflows are not emulated by cfemu (the class may be "
            "defined, but cfemu cannot run workflow instances)"
        )
