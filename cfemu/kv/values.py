"""Values at the KV binding's edge: keys, options, expirations, decoded results, cursors.

Each helper raises Cloudflare's error for what it checks (spec: kv-assets-…md §1.2, §1.3).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import Any, Final

from cfemu._js import js_string, to_js_dict
from cfemu.errors import KvError, KvSyntaxError, KvTypeError
from cfemu.limits import KV_MAX_KEY_BYTES, KV_MIN_EXPIRATION_TTL
from cfemu.runtime.rpc import python_to_rpc

__all__ = ["stream_of"]

TYPES: Final = ("text", "json", "arrayBuffer", "stream")
BAD_TYPE: Final = (
    'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".'
)
BAD_VALUE: Final = (
    "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values."
)


def stream_of(value: bytes) -> Any:
    """What ``get(key, type="stream")`` returns: a ``ReadableStream`` over the value, as the
    JsProxy a Python Worker gets on Cloudflare (``getReader()``, ``async for``, and a valid
    ``Response`` body)."""
    from cfemu.runtime.js_module.web import JsReadableStream

    return JsReadableStream(value)


def failed(method: str, status: int, text: str) -> KvError:
    return KvError(f"KV {method} failed: {status} {text}", status=status)


def key_text(key: object) -> str:
    """A key as the runtime receives it: strings as they are, other values stringified."""
    if isinstance(key, str):
        return key
    python_to_rpc(key)
    return js_string(key)


def storable(key: str) -> str:
    """``key`` with lone surrogates replaced, as its UTF-8 encoding on Cloudflare is."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return key.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return key


def check_key(key: object, method: str) -> str:
    text = key_text(key)
    if text == "":
        raise KvTypeError("Key name cannot be empty.")
    if text in (".", ".."):
        raise KvTypeError(f'"{text}" is not allowed as a key name.')
    text = storable(text)
    size = len(text.encode("utf-8"))
    if size > KV_MAX_KEY_BYTES:
        raise KvError(
            f"KV {method} failed: 414 UTF-8 encoded length of {size} exceeds key length "
            f"limit of {KV_MAX_KEY_BYTES}.",
            status=414,
        )
    return text


def options_of(options: object, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The options object a call receives: a positional dict or type string, else kwargs.

    As on Cloudflare, keyword arguments become a trailing object after the positional ones,
    so with a positional options argument they land in an argument the method ignores.
    """
    if options is None:
        opts = dict(kwargs)
        python_to_rpc(opts)
        return opts
    if isinstance(options, str):
        return {"type": options}
    if isinstance(options, Mapping):
        python_to_rpc(dict(options))
        return dict(options)
    python_to_rpc(options)
    return {}


def as_number(value: object) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def decode_value(value: bytes, value_type: str) -> Any:
    if value_type == "text":
        return value.decode("utf-8", "replace")
    if value_type == "json":
        text = value.decode("utf-8", "replace")
        try:
            return to_js_dict(json.loads(text))
        except ValueError:
            raise KvSyntaxError(_json_syntax_message(text)) from None
    if value_type == "arrayBuffer":
        return memoryview(value)
    return stream_of(value)


def _json_syntax_message(text: str) -> str:
    """JavaScript's ``JSON.parse`` message for text that is not JSON (V8's wording)."""
    if not text.strip():
        return "Unexpected end of JSON input"
    shown = text if len(text) <= 30 else text[:10] + "..."
    return f"Unexpected token '{text.strip()[0]}', \"{shown}\" is not valid JSON"


def metadata_of(raw: str | None) -> Any:
    return None if raw is None else to_js_dict(json.loads(raw))


def value_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return storable(value).encode("utf-8")
    python_to_rpc(value)  # bytearray → "cannot be sent over RPC", as on Cloudflare
    if isinstance(value, bytes):
        return value
    if isinstance(value, memoryview):
        return value.tobytes()
    from cfemu.runtime.js_module.containers import JsBuffer
    from cfemu.runtime.js_module.web import JsReadableStream

    if isinstance(value, JsBuffer):  # a js.ArrayBuffer or typed array
        return value.to_bytes()
    if isinstance(value, JsReadableStream):
        value._done = True
        return value._data
    raise KvTypeError(BAD_VALUE)


def expiration_of(opts: Mapping[str, Any], now: float) -> int | None:
    """The absolute expiration (epoch seconds) a put asks for; ``expirationTtl`` wins."""
    ttl = opts.get("expirationTtl")
    if ttl is not None:
        number = as_number(ttl)
        raw = js_string(ttl)
        if math.isnan(number) or number <= 0:
            raise failed(
                "PUT",
                400,
                f"Invalid expiration_ttl of {raw}. Please specify integer greater than 0.",
            )
        if number < KV_MIN_EXPIRATION_TTL:
            raise failed(
                "PUT",
                400,
                f"Invalid expiration_ttl of {raw}. Expiration TTL must be at least "
                f"{KV_MIN_EXPIRATION_TTL}.",
            )
        return int(now) + int(number)
    absolute = opts.get("expiration")
    if absolute is None:
        return None
    number = as_number(absolute)
    raw = js_string(absolute)
    if math.isnan(number) or number <= now:
        raise failed(
            "PUT",
            400,
            f"Invalid expiration of {raw}. Please specify integer greater than the current "
            f"number of seconds since the UNIX epoch.",
        )
    if number < now + KV_MIN_EXPIRATION_TTL:
        raise failed(
            "PUT",
            400,
            f"Invalid expiration of {raw}. Expiration times must be at least "
            f"{KV_MIN_EXPIRATION_TTL} seconds in the future.",
        )
    return int(number)


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii")


def decode_cursor(cursor: Any) -> str:
    try:
        return base64.urlsafe_b64decode(str(cursor).encode("ascii")).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        raise failed("GET", 400, "Invalid cursor") from None
