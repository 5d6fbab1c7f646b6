"""The JavaScript-shaped values Cloudflare's Python SDK hands to Workers.

On Cloudflare, plain JS objects returned by bindings reach Python as ``JsDict``: a ``dict``
that also allows attribute access (``result.meta.changes`` and ``result["meta"]["changes"]``).
cfemu returns the same shape, nested at every level.
"""

from __future__ import annotations

import math
from inspect import isawaitable
from typing import Any

__all__ = ["JsDict", "check_rpc", "is_leaf", "js_string", "js_typeof", "to_js_dict"]


class JsDict(dict[str, Any]):
    """A ``dict`` with attribute access, as Cloudflare's Python SDK returns plain JS objects."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__!s} has no attribute or key {name!r}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def to_js_dict(value: Any) -> Any:
    """Convert nested dicts (inside dicts and lists) to :class:`JsDict`, recursively."""
    if isinstance(value, dict):
        return JsDict({k: to_js_dict(v) for k, v in value.items()})
    if isinstance(value, list):
        return [to_js_dict(v) for v in value]
    return value


def js_typeof(value: object) -> str:
    """What JavaScript's ``typeof`` says of the JS value a Python value becomes on Cloudflare."""
    if value is None:
        return "object"  # JS null
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        # Python ints beyond 64 bits cross the FFI as BigInt.
        return "number" if -(2**63) <= value < 2**63 else "bigint"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if callable(value):
        return "function"
    return "object"


def js_string(value: object) -> str:
    """JavaScript's ``String(value)`` for the JS value a Python value becomes on Cloudflare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ",".join("" if v is None else js_string(v) for v in value)
    if callable(value):
        return f"function {getattr(value, '__name__', '')}() {{ [native code] }}"
    return "[object Object]"


# Types whose values cross Cloudflare's Python/JS boundary as they are (no walk needed).
_LEAVES = frozenset({str, int, float, bool, type(None), bytes, memoryview})

#: ``is_leaf(type(v))``: ``v`` crosses the boundary as it is. A C function, so
#: ``all(map(is_leaf, map(type, values)))`` checks a flat container at C speed.
is_leaf = _LEAVES.__contains__


def check_rpc(value: Any) -> None:
    """Refuse what Cloudflare's Python SDK refuses at a binding or RPC call.

    The SDK's ``python_to_rpc`` raises ``TypeError: <class 'tuple'> cannot be sent over
    RPC.`` for a ``tuple`` or ``bytearray`` (subclasses too), and ``TypeError: Awaitable
    <class 'coroutine'> cannot be sent over RPC.`` for an awaitable, at any depth inside
    dicts (values), lists and sets (spec: python-runtime.md §2.2). Callables pass as they
    are. Scalars and the common shapes of JSON-like data are checked without a call per
    item, so the check stays off the hot paths' profile.
    """
    kind = type(value)
    if kind in _LEAVES:
        return
    if kind is dict or kind is JsDict:
        for item in value.values():
            if type(item) not in _LEAVES:
                check_rpc(item)
        return
    if kind is list:
        if all(map(is_leaf, map(type, value))):
            return
        for item in value:
            if type(item) not in _LEAVES:
                check_rpc(item)
        return
    if isinstance(value, tuple | bytearray):
        raise TypeError(f"{type(value)} cannot be sent over RPC.")
    if callable(value) and not isinstance(value, type):
        return
    if isawaitable(value):
        raise TypeError(f"Awaitable {type(value)} cannot be sent over RPC.")
    if isinstance(value, dict):
        for item in value.values():
            check_rpc(item)
    elif isinstance(value, list | set | frozenset):
        for item in value:
            check_rpc(item)
