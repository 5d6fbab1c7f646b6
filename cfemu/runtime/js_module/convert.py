"""Conversions between Python values and cfemu's JavaScript stand-ins.

``to_js`` follows Pyodide 0.28 (spec: python-runtime.md §4): lists and tuples become
``Array``, dicts a ``Map`` whose string keys also read as properties (or whatever
``dict_converter`` makes of the entries, e.g. ``Object.fromEntries``), sets a ``Set``, bytes
a ``Uint8Array`` copy, ``None`` ``undefined``; ``str``/``int``/``float``/``bool`` are the
same in both languages; anything else stays a Python object (a "PyProxy").
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from cfemu._js import JsDict
from cfemu.runtime.js_module.containers import JsArray, JsBuffer, JsMap, JsSet
from cfemu.runtime.js_module.proxy import JsNull, JsObject, JsProxy, jsnull

__all__ = ["from_json_value", "js_display", "js_stringify", "to_js", "to_json_value"]


def to_js(
    obj: Any,
    *,
    depth: int = -1,
    pyproxies: Any = None,
    create_pyproxies: bool = True,
    dict_converter: Callable[[Any], Any] | None = None,
    default_converter: Callable[..., Any] | None = None,
    eager_converter: Callable[..., Any] | None = None,
) -> Any:
    """Convert ``obj`` deeply (``depth`` levels; -1 means fully) to JavaScript values."""
    del pyproxies, create_pyproxies

    def convert(value: Any, level: int) -> Any:
        if eager_converter is not None and not isinstance(value, JsProxy):
            return eager_converter(value, lambda v: convert(v, level), lambda *_: None)
        if value is None or isinstance(value, bool | int | float | str | JsProxy):
            return value
        if level == 0:
            return value
        if isinstance(value, list | tuple):
            return JsArray(convert(v, level - 1) for v in value)
        if isinstance(value, dict):
            entries = [(convert(k, level - 1), convert(v, level - 1)) for k, v in value.items()]
            if dict_converter is not None:
                return dict_converter(JsArray(JsArray(e) for e in entries))
            return JsMap(entries)
        if isinstance(value, set | frozenset):
            return JsSet(convert(v, level - 1) for v in value)
        if isinstance(value, bytes | bytearray | memoryview):
            return JsBuffer(bytearray(value))
        if default_converter is not None:
            return default_converter(value, lambda v: convert(v, level - 1), lambda *_: None)
        return value

    return convert(obj, depth)


def from_json_value(value: Any) -> Any:
    """A value parsed by ``json.loads`` as JavaScript's ``JSON.parse`` would give it."""
    if value is None:
        return jsnull  # read back as None on Pyodide 0.26 (proxy.js_value)
    if isinstance(value, dict):
        return JsObject({k: from_json_value(v) for k, v in value.items()})
    if isinstance(value, list):
        return JsArray(from_json_value(v) for v in value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


class _Skip:
    pass


_SKIP = _Skip()


def to_json_value(value: Any, *, top: bool = True) -> Any:
    """``value`` as plain JSON data, following ``JSON.stringify``'s rules (``undefined``
    and functions are left out of objects and are ``null`` in arrays)."""
    if value is None or (callable(value) and not isinstance(value, JsProxy | type)):
        return _SKIP
    if isinstance(value, JsNull):
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    to_json = getattr(value, "toJSON", None)
    if isinstance(value, JsProxy) and callable(to_json):
        return to_json_value(to_json(), top=top)
    if isinstance(value, JsArray | list | tuple):
        items = [to_json_value(v, top=False) for v in value]
        return [None if v is _SKIP else v for v in items]
    if isinstance(value, JsMap | JsSet | JsBuffer):
        return {} if not isinstance(value, JsBuffer) else dict(enumerate(value))
    if isinstance(value, JsObject | JsDict | dict):
        props = value._props() if isinstance(value, JsObject) else value
        out = {}
        for k, v in props.items():
            converted = to_json_value(v, top=False)
            if converted is not _SKIP:
                out[str(k)] = converted
        return out
    if isinstance(value, JsProxy):
        return {}
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def js_stringify(value: Any, indent: Any = None) -> str | None:
    """JavaScript's ``JSON.stringify(value, null, indent)``; ``None`` for ``undefined``."""
    data = to_json_value(value)
    if data is _SKIP:
        return None
    if isinstance(indent, int | float) and indent > 0:
        return json.dumps(data, indent=min(int(indent), 10), ensure_ascii=False)
    if isinstance(indent, str) and indent:
        return json.dumps(data, indent=indent[:10], ensure_ascii=False)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def js_display(value: Any) -> str:
    """How ``console.log`` shows one argument: strings as they are, values as JavaScript
    would print them."""
    from cfemu._js import js_string

    if isinstance(value, str):
        return value
    if value is None:
        return "undefined"
    if isinstance(value, bool | int | float):
        return js_string(value)
    if isinstance(value, JsObject | JsArray | dict | list):
        try:
            return js_stringify(value) or "undefined"
        except TypeError:
            return repr(value)
    return str(value)
