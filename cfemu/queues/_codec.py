"""Message bodies on the wire: the four content types and their (de)serialization.

Cloudflare serializes a body when it is sent and deserializes a fresh copy for every delivery;
size limits apply to the serialized form (spec: queues.md §1 "Content types", §2). cfemu does
the same, so a producer mutating an object after ``send`` does not change the queued message,
and a consumer gets a new value on each attempt.

============  ==========================================  ====================================
type          accepted body                               consumer sees
============  ==========================================  ====================================
``json``      what ``JSON.stringify`` accepts (orjson)    the parsed value (dict, list, ...)
``text``      ``str``                                     ``str``
``bytes``     ``bytes``, ``bytearray``, ``memoryview``    ``bytes``
``v8``        structured-clone values (dates, sets, any-   a decoded copy
              key dicts, bytes, big ints; ``_v8``)
============  ==========================================  ====================================
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from cfemu._js import js_typeof
from cfemu.errors import QueueTypeError
from cfemu.queues import _v8

__all__ = ["CONTENT_TYPES", "DEFAULT_CONTENT_TYPE", "Payload", "decode", "encode", "resolve_type"]

JSON: Final = "json"
TEXT: Final = "text"
BYTES: Final = "bytes"
V8: Final = "v8"
CONTENT_TYPES: Final = (TEXT, BYTES, JSON, V8)
#: Cloudflare's default since compatibility date 2024-03-18 (flag ``queues_json_messages``).
DEFAULT_CONTENT_TYPE: Final = JSON

#: A serialized body: UTF-8 JSON (bytes), text (str), raw bytes, or a v8 body (bytes, ``_v8``).
Payload = bytes | str

_JSON_OPTIONS: Final = orjson.OPT_NON_STR_KEYS  # JS object keys are strings: {1: x} -> {"1": x}
_dumps = orjson.dumps
#: A right-sized copy of a ``bytes``: orjson returns its output in a buffer of at least 4 KiB
#: (``getsizeof`` hides it; tracemalloc shows it), which a queued message must not keep.
_fit = b"%b".__mod__
_loads = orjson.loads


def fit(payload: Payload) -> Payload:
    """``payload`` in a buffer of its own size (a ``bytes`` copied by :data:`_fit`; a text
    payload as it is). For a payload that is going to wait in a queue."""
    return _fit(payload) if type(payload) is bytes else payload


def resolve_type(content_type: object, default: str = DEFAULT_CONTENT_TYPE) -> str:
    """Validate a ``contentType`` option the way workerd does (case-insensitively);
    ``None`` gives ``default`` (``"v8"`` before compatibility date 2024-03-18)."""
    if content_type is None:
        return default
    if content_type in CONTENT_TYPES:  # fast path: already canonical
        return str(content_type)
    lowered = str(content_type).lower()
    if lowered in CONTENT_TYPES:
        return lowered
    raise QueueTypeError(f"Unsupported queue message content type: {content_type}")


def encode(body: object, content_type: str) -> tuple[Payload, int]:
    """Serialize ``body`` as ``content_type``; returns the payload and its size in bytes."""
    if content_type == JSON:
        try:
            data = _fit(_dumps(body, option=_JSON_OPTIONS))
        except TypeError as exc:  # orjson.JSONEncodeError subclasses TypeError
            raise QueueTypeError(
                f"Message body of type {type(body).__name__} is not JSON-serializable "
                f'(contentType "json"): {exc}'
            ) from None
        return data, len(data)
    if content_type == TEXT:
        if not isinstance(body, str):
            raise QueueTypeError(
                'Content Type "text" requires a value of type string, but received: '
                + js_typeof(body)
            )
        if body.isascii():
            return body, len(body)
        try:
            return body, len(body.encode("utf-8"))
        except UnicodeEncodeError:
            # Lone surrogates (a JS string may hold them too): workerd's UTF-8 encoding
            # replaces each with U+FFFD, so that is what the consumer receives.
            body = body.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
            return body, len(body.encode("utf-8"))
    if content_type == BYTES:
        if isinstance(body, bytes):
            return body, len(body)
        if isinstance(body, bytearray | memoryview):
            data = bytes(body)  # a snapshot: later writes to the buffer do not change the message
            return data, len(data)
        raise QueueTypeError(
            'Content Type "bytes" requires a value of type ArrayBufferView, but received: '
            + js_typeof(body)
        )
    if content_type == V8:
        try:
            data = _v8.dumps(body)
        except _v8.V8EncodeError as exc:
            raise QueueTypeError(f'DataCloneError: {exc} (contentType "v8").') from None
        return data, len(data)
    raise QueueTypeError(f"Unsupported queue message content type: {content_type}")


def decode(content_type: str, payload: Payload) -> Any:
    """A fresh Python value for one delivery of a message."""
    if content_type == JSON:
        return _loads(payload)
    if content_type == V8:
        assert isinstance(payload, bytes)
        return _v8.loads(payload)  # data only: never unpickles, never imports
    return payload  # text (str) and bytes (immutable bytes) need no copy
