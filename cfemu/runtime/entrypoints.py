"""The entrypoint base classes of Cloudflare's Python ``workers`` module.

``class Default(WorkerEntrypoint)`` is what cfemu runs for a Worker's events;
``class X(DurableObject)`` is a Durable Object class that ``[[durable_objects.bindings]]``
name (see :mod:`cfemu.durable_objects`); ``class X(WorkflowEntrypoint)`` is a Workflow that
``[[workflows]]`` name (see :mod:`cfemu.workflows`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

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
    """Base class of a Durable Object: ``class Counter(DurableObject)``.

    cfemu creates one instance per object (per id) when its first event arrives, with the
    object's ``ctx`` (``id``, ``storage``, ``blockConcurrencyWhile`` ...) and the Worker's
    ``env``. As in Cloudflare's SDK, ``self.ctx`` and ``self.env`` are set even when a
    subclass's ``__init__`` does not call ``super().__init__``.
    """

    ctx: Any
    env: Any

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


class WorkflowEntrypoint:
    """Base class of a Workflow: ``class MyWorkflow(WorkflowEntrypoint)`` with
    ``async def run(self, event, step)`` (see :mod:`cfemu.workflows`).

    cfemu creates one instance per run of a Workflow instance, with a ``ctx`` and the
    exporting Worker's ``env``.
    """

    ctx: Any
    env: Any

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env
