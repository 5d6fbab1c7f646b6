"""The errors a Durable Object's caller and code see (spec: durable-objects.md §2.6).

On Cloudflare these are JavaScript errors carrying properties: ``remote`` (thrown by the
object's own code, tunnelled back), ``retryable`` (the connection broke; retry if the call
is idempotent), ``overloaded`` (do not retry) and ``durableObjectReset`` (the object was
reset). cfemu raises :class:`DurableObjectError` with the same attribute names; the
JavaScript ``TypeError``/``RangeError`` of the storage API are raised as subclasses that are
also Python's ``TypeError``/``ValueError``.
"""

from __future__ import annotations

from cfemu.errors import CfemuError

__all__ = [
    "DataCloneError",
    "DurableObjectAbort",
    "DurableObjectError",
    "DurableObjectRangeError",
    "DurableObjectTypeError",
]


class DurableObjectError(CfemuError):
    """An error from a Durable Object, its storage, or the call that reached it."""

    code = "DURABLE_OBJECT_ERROR"

    def __init__(
        self,
        message: str,
        *,
        remote: bool = False,
        retryable: bool = False,
        overloaded: bool = False,
        reset: bool = False,
        object_id: str | None = None,
    ) -> None:
        super().__init__(message)
        #: Thrown by the object's own code (constructor, method, handler).
        self.remote = remote
        #: The call may be retried (if idempotent): the connection to the object broke.
        self.retryable = retryable
        #: The object is overloaded; do not retry.
        self.overloaded = overloaded
        #: The object was reset (``abort()``, a failed ``blockConcurrencyWhile``, a write
        #: that could not be committed).
        self.durableObjectReset = reset
        #: The id (64 hex digits) of the object, when known.
        self.durableObjectId = object_id


class DurableObjectTypeError(DurableObjectError, TypeError):
    """A JavaScript ``TypeError`` of the Durable Object API (bad argument)."""

    code = "DURABLE_OBJECT_TYPE_ERROR"


class DurableObjectRangeError(DurableObjectError, ValueError):
    """A JavaScript ``RangeError`` of the Durable Object API (value out of range)."""

    code = "DURABLE_OBJECT_RANGE_ERROR"


class DataCloneError(DurableObjectError, TypeError):
    """A value that cannot cross RPC or be stored (structured clone refuses it)."""

    code = "DATA_CLONE_ERROR"

    def __init__(self, value: object) -> None:
        super().__init__(f"DataCloneError: {value!r} could not be cloned.")


class DurableObjectAbort(BaseException):
    """Raised by ``ctx.abort()`` to stop the running code at once.

    A ``BaseException``, as in Cloudflare's SDK, so ``except Exception`` does not swallow it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
