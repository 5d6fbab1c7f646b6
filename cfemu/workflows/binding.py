"""``env.MY_WORKFLOW`` and its instance handles, as Python Workers see them (spec §3.6).

Method names are Cloudflare's: ``create``, ``create_batch`` (and JS ``createBatch``),
``get``; an instance has ``id``, ``status``, ``pause``, ``resume``, ``terminate``,
``restart`` and ``sendEvent`` (and the SDK's ``send_event``). Every call is a coroutine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cfemu.limits import WORKFLOW_MAX_BATCH
from cfemu.workflows.engine import WorkflowRuntime
from cfemu.workflows.errors import WorkflowError

__all__ = ["Workflow", "WorkflowInstance"]


def _options(options: Any, kwargs: dict[str, Any], what: str) -> dict[str, Any]:
    if options is None:
        return dict(kwargs)
    if not isinstance(options, Mapping):
        raise TypeError(f"{what}: options must be a dict, not {type(options).__name__}")
    return {**options, **kwargs}


class WorkflowInstance:
    """A handle on one instance: ``await instance.status()`` ..."""

    def __init__(self, runtime: WorkflowRuntime, instance_id: str) -> None:
        self._runtime = runtime
        self.id = instance_id

    def __repr__(self) -> str:
        return f"WorkflowInstance({self._runtime.name!r}, id={self.id!r})"

    async def status(self) -> dict[str, Any]:
        """``{"status": ..., "error": {"name", "message"}?, "output": ...?}``."""
        return self._runtime.status(self.id)

    async def pause(self) -> None:
        """Pause at the next step boundary."""
        self._runtime.pause(self.id)

    async def resume(self) -> None:
        """Resume a paused instance."""
        self._runtime.resume(self.id)

    async def terminate(self, options: Any = None) -> None:
        """Stop the instance for good."""
        self._runtime.terminate(self.id)

    async def restart(self, options: Any = None) -> None:
        """Run the instance again from its first step."""
        if options is not None and isinstance(options, Mapping) and options.get("from"):
            from cfemu.errors import NotEmulatedError

            raise NotEmulatedError("restart({'from': ...}): cfemu restarts from the start only")
        self._runtime.restart(self.id)

    async def sendEvent(self, options: Any = None, /, **kwargs: Any) -> None:
        """``sendEvent({"type": t, "payload": p})`` (or ``type=``, ``payload=``)."""
        found = _options(options, kwargs, "sendEvent")
        self._runtime.send_event(self.id, found.get("type"), found.get("payload"))

    async def send_event(self, options: Any = None, /, **kwargs: Any) -> None:
        """The SDK's spelling of :meth:`sendEvent`."""
        await self.sendEvent(options, **kwargs)


class Workflow:
    """``env.MY_WORKFLOW``: create and look up instances of one Workflow."""

    def __init__(self, runtime: WorkflowRuntime) -> None:
        self._runtime = runtime

    def __repr__(self) -> str:
        return f"Workflow({self._runtime.name!r})"

    async def create(self, options: Any = None, /, **kwargs: Any) -> WorkflowInstance:
        """Start an instance: ``create()``, ``create(id=..., params=...)`` or
        ``create({"id": ..., "params": ...})``; the id defaults to a random UUID."""
        found = _options(options, kwargs, "create")
        instance_id = self._runtime.create(found.get("id"), found.get("params"))
        return WorkflowInstance(self._runtime, instance_id)

    async def create_batch(self, batch: Any) -> list[WorkflowInstance]:
        """Start several instances (at most 100) from a list of ``create`` options."""
        items = list(batch)
        if not items:
            raise WorkflowError("batchCreate should have at least 1 instance")
        if len(items) > WORKFLOW_MAX_BATCH:
            raise WorkflowError(f"batchCreate accepts at most {WORKFLOW_MAX_BATCH} instances")
        return [await self.create(item) for item in items]

    async def createBatch(self, batch: Any) -> list[WorkflowInstance]:
        """The JavaScript spelling of :meth:`create_batch`."""
        return await self.create_batch(batch)

    async def get(self, instance_id: str) -> WorkflowInstance:
        """A handle on an existing instance; ``WorkflowError("instance.not_found")``."""
        self._runtime.require(instance_id)
        return WorkflowInstance(self._runtime, instance_id)
