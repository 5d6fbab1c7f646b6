"""``ctx`` of a Durable Object: ``id``, ``storage``, ``waitUntil``, ``blockConcurrencyWhile``,
``abort`` (spec: durable-objects.md §3)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from cfemu.durable_objects.errors import DurableObjectAbort
from cfemu.errors import NotEmulatedError

if TYPE_CHECKING:
    from cfemu.durable_objects.actor import Actor
    from cfemu.durable_objects.ids import DurableObjectId
    from cfemu.durable_objects.storage import DurableObjectStorage

__all__ = ["DurableObjectState"]

#: The Python SDK's message when ``abort()`` is called without a reason.
DEFAULT_ABORT_REASON = "Durable Object abort requested"


class DurableObjectState:
    """``self.ctx`` inside a Durable Object."""

    __slots__ = ("_actor",)

    def __init__(self, actor: Actor) -> None:
        self._actor = actor

    @property
    def id(self) -> DurableObjectId:
        """The object's id (with ``name`` when it was reached by name)."""
        return self._actor.id

    @property
    def storage(self) -> DurableObjectStorage:
        """The object's storage: key-value, ``sql``, ``kv``, alarms."""
        return self._actor.storage

    def waitUntil(self, awaitable: Awaitable[Any]) -> None:
        """Run ``awaitable`` in the background (its failure is logged)."""
        self._actor.wait_until(awaitable)

    def wait_until(self, awaitable: Awaitable[Any]) -> None:
        """The SDK's snake_case spelling of :meth:`waitUntil`."""
        self.waitUntil(awaitable)

    def blockConcurrencyWhile(self, callback: Any) -> Awaitable[Any]:
        """Run ``callback()`` with no other event in the object until it finishes.

        Starts at once (the constructor may call it without awaiting); awaiting the result
        gives what the callback returned. If the callback raises, the object is reset.
        """
        return self._actor.block(callback)

    def abort(self, reason: str | None = None) -> None:
        """Reset the object now: uncommitted writes are dropped, in-flight calls fail."""
        message = reason if reason is not None else DEFAULT_ABORT_REASON
        self._actor.abort(message)
        raise DurableObjectAbort(message)

    def acceptWebSocket(self, *args: Any, **kwargs: Any) -> None:
        """WebSocket hibernation is not emulated."""
        raise NotEmulatedError("Durable Object WebSockets are not emulated by cfemu")

    def getWebSockets(self, *args: Any, **kwargs: Any) -> list[Any]:
        """WebSocket hibernation is not emulated: there are never any."""
        return []

    def __repr__(self) -> str:
        return f"DurableObjectState(id={self._actor.id.toString()!r})"
