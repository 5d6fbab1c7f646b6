"""``env.MY_WORKFLOW`` and its instance handles, as Python Workers see them (spec §3.6).

Method names are Cloudflare's: ``create``, ``create_batch`` (and JS ``createBatch``),
``get`` and ``deleteBatch``; an instance has ``id``, ``status``, ``pause``, ``resume``,
``terminate``, ``restart``, ``delete`` and ``sendEvent`` (and the SDK's ``send_event``).
Every call is a coroutine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from cfemu._js import JsDict
from cfemu.limits import WORKFLOW_MAX_BATCH, WORKFLOW_MAX_DELETE_BATCH
from cfemu.workflows.engine import WorkflowRuntime
from cfemu.workflows.errors import WorkflowError

__all__ = ["Workflow", "WorkflowInstance"]

#: Ids that may address an existing instance (local wrangler's check, 1 to 271 characters).
_ADDRESSABLE_ID: Final = re.compile(r"^[a-zA-Z0-9, */#_-]{1,271}$")


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

    async def status(self) -> JsDict:
        """``{"status", "error", "output"}`` (a ``JsDict``: ``s.status`` works too); ``error``
        is ``{"name", "message"}`` when errored and ``output`` the result when complete,
        ``None`` otherwise."""
        return self._runtime.status(self.id)

    async def pause(self) -> None:
        """Pause at the next step boundary."""
        self._runtime.pause(self.id)

    async def resume(self) -> None:
        """Resume a paused instance."""
        self._runtime.resume(self.id)

    async def terminate(self, options: Any = None, /, **kwargs: Any) -> None:
        """Stop the instance for good. ``{"rollback": True}`` is accepted; Python Workflows
        register no rollback handlers, so there is nothing to roll back."""
        found = _options(options, kwargs, "terminate")
        unknown = set(found) - {"rollback"}
        if unknown or not isinstance(found.get("rollback", False), bool):
            raise TypeError(f"terminate: options are {{'rollback': bool}}, not {found!r}")
        self._runtime.terminate(self.id)

    async def restart(self, options: Any = None, /, **kwargs: Any) -> None:
        """Run the instance again from its first step, or ``restart({"from": {"name": n,
        "count": c, "type": t}})`` from that step on (the steps before it keep their
        results)."""
        found = _options(options, kwargs, "restart")
        unknown = set(found) - {"from"}
        if unknown:
            raise TypeError(f"restart: unknown options {sorted(unknown)}")
        self._runtime.restart(self.id, found.get("from"))

    async def delete(self) -> None:
        """Stop the instance and delete it with its history; its id may be used again."""
        self._runtime.delete(self.id)

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

    async def deleteBatch(self, instance_ids: Any) -> dict[str, list[dict[str, Any]]]:
        """Delete up to 100 instances: ``{"deleted": [{"id"}], "errors": [{"id", "code",
        "message"}]}`` (an unknown id is an error entry, not an exception)."""
        if isinstance(instance_ids, str | bytes) or not isinstance(instance_ids, Iterable):
            raise WorkflowError("(body) Provided argument is invalid")
        ids = list(instance_ids)
        if len(ids) > WORKFLOW_MAX_DELETE_BATCH:
            raise WorkflowError(
                f"(body) batchDeleteInstances only supports {WORKFLOW_MAX_DELETE_BATCH} "
                "instances at a time"
            )
        if not ids:
            raise WorkflowError("(body) batchDeleteInstances should have at least 1 instance")
        if not all(isinstance(i, str) and _ADDRESSABLE_ID.match(i) for i in ids):
            raise WorkflowError("(instance.invalid_id) Instance ID is invalid")
        found: dict[str, bool] = {}
        for instance_id in dict.fromkeys(ids):
            try:
                self._runtime.delete(instance_id)
                found[instance_id] = True
            except WorkflowError:
                found[instance_id] = False
        result: dict[str, list[dict[str, Any]]] = {"deleted": [], "errors": []}
        for instance_id in ids:
            if found[instance_id]:
                result["deleted"].append({"id": instance_id})
            else:
                result["errors"].append(
                    {
                        "id": instance_id,
                        "code": 10400,
                        "message": "workflows.api.error.instance.not_found",
                    }
                )
        return result

    async def get(self, instance_id: str) -> WorkflowInstance:
        """A handle on an existing instance; ``WorkflowError("instance.not_found")``."""
        self._runtime.require(instance_id)
        return WorkflowInstance(self._runtime, instance_id)
