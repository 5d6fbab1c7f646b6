"""Values crossing a Durable Object's boundary: RPC, storage and SQL results.

* **RPC** passes arguments and results by value, as V8's structured clone does: the callee
  gets a copy, dicts arrive as :class:`~cfemu._js.JsDict`, bytes as ``memoryview``,
  datetimes keep millisecond precision. Functions cross as callables (stubs on
  Cloudflare), ``Request``/``Response`` objects as themselves. Tuples, bytearrays and
  awaitables are refused by the SDK's own check (``python_to_rpc``); other objects by the
  clone (:class:`DataCloneError`). spec: durable-objects.md §2.4, python-runtime.md §2.
* **Storage** keeps the same values, serialized (:func:`encode`/:func:`decode`), so what
  a later ``get`` returns is a fresh copy, and size limits apply to the serialized form.
* **SQL results** follow JavaScript numbers: integers beyond 2**53 lose precision, and a
  whole-number REAL arrives as ``int`` (Pyodide's conversion).
"""

from __future__ import annotations

import inspect
import marshal
from datetime import UTC, datetime
from typing import Any, Final

from cfemu._js import JsDict
from cfemu.durable_objects.errors import DataCloneError, DurableObjectTypeError
from cfemu.runtime.js_module.proxy import JsNull, JsProxy
from cfemu.runtime.rpc import python_to_rpc

__all__ = ["MAX_SAFE_INTEGER", "clone", "decode", "encode", "js_number", "to_timestamp_ms"]

#: Largest integer a JavaScript number holds exactly.
MAX_SAFE_INTEGER: Final = 2**53 - 1
_DATE_TAG: Final = "\x00date"
_ERROR_TAG: Final = "\x00error"


def to_timestamp_ms(moment: datetime) -> int:
    """A ``datetime`` as JavaScript's ``Date``: milliseconds since the epoch (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _from_ms(ms: float) -> datetime:
    # python_from_rpc gives datetime.fromtimestamp(ms / 1000): naive; cfemu keeps UTC so
    # results do not depend on the machine's zone.
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def _from_js(value: JsProxy) -> Any:
    """A JavaScript value (``to_js(...)``, ``js.Object``) as the Python value it clones to."""
    if isinstance(value, JsNull):
        return None
    return value.to_py()


def _is_passthrough(value: Any) -> bool:
    # Request/Response/Blob/File/FormData (anything with a JS object), callables (stubs).
    if hasattr(type(value), "js_object"):
        return True
    return callable(value) and not isinstance(value, type)


def clone(value: Any) -> Any:
    """Copy ``value`` as it crosses RPC: checked like ``python_to_rpc``, then cloned."""
    python_to_rpc(value)
    return _clone(value)


def _clone(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, JsProxy) and not callable(value):
        return _clone(_from_js(value))
    if isinstance(value, dict):
        return JsDict({str(k): _clone(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, set | frozenset):
        return {_clone(v) for v in value}
    if isinstance(value, bytes | memoryview):
        return memoryview(bytes(value))
    if isinstance(value, datetime):
        return _from_ms(to_timestamp_ms(value))
    if isinstance(value, BaseException):
        return Exception(f"Error: {value}")
    if _is_passthrough(value):
        return value
    raise DataCloneError(value)


def _plain(value: Any) -> Any:
    """``value`` as marshal-able data; tuples are cfemu's own tags (users cannot send any)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, JsProxy):
        return _plain(_from_js(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return frozenset(_plain(v) for v in value)
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    if isinstance(value, datetime):
        return (_DATE_TAG, to_timestamp_ms(value))
    if isinstance(value, BaseException):
        return (_ERROR_TAG, str(value))
    if isinstance(value, tuple | bytearray):
        raise DurableObjectTypeError(f"{type(value)} cannot be sent over RPC.")
    if inspect.isawaitable(value):
        raise DurableObjectTypeError(f"Awaitable {type(value)} cannot be sent over RPC.")
    raise DataCloneError(value)


def _revive(value: Any) -> Any:
    if isinstance(value, dict):
        return JsDict({k: _revive(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_revive(v) for v in value]
    if isinstance(value, frozenset):
        return {_revive(v) for v in value}
    if isinstance(value, bytes):
        return memoryview(value)
    if isinstance(value, tuple):
        tag, payload = value
        if tag == _DATE_TAG:
            return _from_ms(payload)
        return Exception(f"Error: {payload}")
    return value


def encode(value: Any) -> bytes:
    """Serialize a storage value (what structured clone accepts); raises for the rest."""
    if value is None:
        return b"N"
    return marshal.dumps(_plain(value))


def decode(data: bytes) -> Any:
    """A fresh copy of a value :func:`encode` serialized."""
    if data == b"N":
        return None
    return _revive(marshal.loads(data))


def js_number(value: Any) -> Any:
    """An SQLite result as a Python Worker receives it through a JavaScript number."""
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else float(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
            return int(value)
        return value
    if isinstance(value, bytes):
        return memoryview(value)
    return value
