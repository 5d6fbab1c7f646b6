"""Test helpers on a stub or namespace (re-exported by :mod:`cfemu.testing`).

They mirror the vitest pool's ``runInDurableObject``, ``runDurableObjectAlarm`` and
``listDurableObjectIds``, in Python's spelling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cfemu.durable_objects.errors import DurableObjectError
from cfemu.durable_objects.namespace import (
    DurableObjectNamespace,
    DurableObjectStub,
    current_actor,
)

__all__ = [
    "evict_durable_object",
    "list_durable_object_ids",
    "run_durable_object_alarm",
    "run_in_durable_object",
]


async def run_in_durable_object(stub: DurableObjectStub, fn: Callable[[Any, Any], Any]) -> Any:
    """Run ``fn(instance, ctx)`` inside the object (as one of its events) and return its
    result (awaited if it is awaitable).

    The object is created if needed; ``fn`` goes through the input and output gates like
    any event, and what it raises propagates unchanged.
    """
    actor = stub._runtime.actor(stub.id)
    box: dict[str, BaseException] = {}

    async def call(instance: Any) -> Any:
        current_actor.set(actor)
        try:
            result = fn(instance, instance.ctx)
            if hasattr(result, "__await__"):
                result = await result
        except BaseException as exc:
            box["error"] = exc
            raise
        return result

    try:
        return await actor.invoke(call, what="run_in_durable_object")
    except DurableObjectError:
        if "error" in box:
            raise box["error"] from None
        raise


async def run_durable_object_alarm(stub: DurableObjectStub) -> bool:
    """Run the object's alarm now, if it has one; returns whether an alarm ran.

    As on Cloudflare, the alarm is deleted when its handler succeeds; when it fails it is
    scheduled for a retry.
    """
    actor = stub._runtime.actor(stub.id)
    when = actor.stored_alarm()
    if when is None:
        return False
    await actor.run_alarm(when)
    return True


def list_durable_object_ids(namespace: DurableObjectNamespace) -> list[Any]:
    """The ids of the namespace's objects that have storage (in memory or on disk)."""
    runtime = namespace._runtime
    return [runtime.ids.from_string(hex_id) for hex_id in runtime.stored_ids()]


def evict_durable_object(stub: DurableObjectStub) -> bool:
    """Evict the object now (its next event runs the constructor again; storage stays).

    Returns ``False`` if an event is running in it (nothing is evicted then).
    """
    return stub._runtime.actor(stub.id).evict()
