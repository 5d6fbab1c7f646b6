"""The JavaScript globals of cfemu's ``js`` module, each a ``JsProxy``.

Constructors are called with ``X.new(...)`` as in Pyodide; their static functions are
attributes (``Response.json``, ``Object.fromEntries``, ``Array.from_``). Time comes from
the emulator's clock (``Date.now()``, ``setTimeout``), so a ``VirtualClock`` drives them.
I/O, timers and random values at a Worker module's top level raise JavaScript's
"Disallowed operation called within global scope" error, as on Cloudflare.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import os
import random
import sys
import uuid
from collections.abc import Callable
from typing import Any

from cfemu._js import js_string
from cfemu.errors import NotEmulatedError
from cfemu.runtime import _scope
from cfemu.runtime.js_module import url, web
from cfemu.runtime.js_module.containers import JsArray, JsBuffer, JsMap, JsSet
from cfemu.runtime.js_module.convert import from_json_value, js_display, js_stringify
from cfemu.runtime.js_module.formdata import JsFormData
from cfemu.runtime.js_module.promise import JsPromise
from cfemu.runtime.js_module.proxy import JsCallable, JsException, JsObject, JsProxy, js_name

__all__ = [
    "GLOBAL_SCOPE_ERROR",
    "JSON",
    "URL",
    "Array",
    "ArrayBuffer",
    "Error",
    "FormData",
    "Headers",
    "JsConstructor",
    "JsNamespace",
    "Map",
    "Math",
    "Object",
    "Promise",
    "Request",
    "Response",
    "Set",
    "URLSearchParams",
    "Uint8Array",
    "console",
    "crypto",
    "fetch",
    "forbid_in_global_scope",
    "num",
]

_log = logging.getLogger("cfemu.runtime")

#: workerd's wording for I/O, timers and randomness outside a request (spec §3).
GLOBAL_SCOPE_ERROR = (
    "Disallowed operation called within global scope. Asynchronous I/O (ex: fetch() or "
    "connect()), setting a timeout, and generating random values are not allowed within "
    "global scope. To fix this error, perform this operation within a handler. "
    "https://developers.cloudflare.com/workers/runtime-apis/handlers/"
)


def forbid_in_global_scope() -> None:
    """Raise JavaScript's error for I/O, timers and randomness at a module's top level."""
    state = _scope.current.get()
    if state is not None and state.ctx is None:
        raise JsException("Error", GLOBAL_SCOPE_ERROR)


def num(value: float) -> int | float:
    """A JavaScript number as Pyodide gives it: integral values become ``int``."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


class JsNamespace(JsProxy):
    """A global object whose members are fixed (``Math``, ``JSON``, ``console``)."""

    __slots__ = ("_members", "_name")

    def __init__(self, name: str, members: dict[str, Any]) -> None:
        self._name = name
        self._members = members

    def _props(self) -> dict[str, Any]:
        return self._members

    def __getattr__(self, name: str) -> Any:
        try:
            return self._members[js_name(name)]
        except KeyError:
            raise AttributeError(f"{self._name}.{name}") from None

    def toString(self) -> str:
        """``String(obj)``."""
        return f"[object {self._name}]"


class JsConstructor(JsCallable):
    """A JavaScript class: ``X.new(...)`` constructs, statics are attributes."""

    __slots__ = ("_statics",)

    def __init__(
        self,
        name: str,
        construct: Callable[..., Any],
        call: Callable[..., Any] | None = None,
        statics: dict[str, Any] | None = None,
    ) -> None:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise JsException(
                "TypeError",
                f"Failed to construct '{name}': Please use the 'new' operator, this DOM "
                "object constructor cannot be called as a function.",
            )

        super().__init__(call or refuse, name, construct)
        self._statics = statics or {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self._statics[js_name(name)]
        except KeyError:
            raise AttributeError(f"{self._name}.{name}") from None


# --- console -------------------------------------------------------------------------------
#: The quietest ``console`` level printed (Python logging numbers; ``cfemu dev --log-level``).
console_threshold = 0


def _printer(stream: str, level: int) -> Callable[..., None]:
    def log(*args: Any) -> None:
        if level >= console_threshold:
            print(" ".join(js_display(a) for a in args), file=getattr(sys, stream), flush=True)

    return log


console = JsNamespace(
    "console",
    {
        "log": _printer("stdout", 15),
        "info": _printer("stdout", logging.INFO),
        "debug": _printer("stdout", logging.DEBUG),
        "warn": _printer("stderr", logging.WARNING),
        "error": _printer("stderr", logging.ERROR),
    },
)


# --- Object, JSON --------------------------------------------------------------------------
def _own(obj: Any) -> dict[str, Any]:
    if isinstance(obj, JsProxy):
        return obj._props()
    if isinstance(obj, dict):
        return {js_string(k): v for k, v in obj.items()}
    raise JsException("TypeError", "Cannot convert undefined or null to object")


def _from_entries(entries: Any) -> JsObject:
    if isinstance(entries, JsMap | dict):
        entries = entries.items()
    out: dict[str, Any] = {}
    for entry in entries:
        key, value = list(entry)
        out[js_string(key)] = value
    return JsObject(out)


def _assign(target: JsObject, *sources: Any) -> JsObject:
    for source in sources:
        if source is not None:
            for key, value in _own(source).items():
                setattr(target, key, value)
    return target


Object = JsConstructor(
    "Object",
    lambda *a: JsObject(),
    lambda *a: JsObject(),
    {
        "fromEntries": _from_entries,
        "entries": lambda obj: JsArray(JsArray([k, v]) for k, v in _own(obj).items()),
        "keys": lambda obj: JsArray(_own(obj)),
        "values": lambda obj: JsArray(_own(obj).values()),
        "assign": _assign,
    },
)


def _parse(text: Any, reviver: Any = None) -> Any:
    try:
        data = json.loads(js_string(text))
    except ValueError as exc:
        raise JsException("SyntaxError", f"Unexpected token in JSON at position {exc}") from None
    return from_json_value(data)


def _stringify(value: Any, replacer: Any = None, space: Any = None) -> str | None:
    if replacer is not None:
        raise NotEmulatedError("JSON.stringify(value, replacer): cfemu supports no replacer")
    try:
        return js_stringify(value, space)
    except TypeError as exc:
        raise JsException("TypeError", str(exc)) from None


JSON = JsNamespace("JSON", {"parse": _parse, "stringify": _stringify})


# --- Math, crypto --------------------------------------------------------------------------
def _math(func: Callable[..., float]) -> Callable[..., int | float]:
    def call(*args: Any) -> int | float:
        try:
            return num(float(func(*args)))
        except (ValueError, OverflowError):
            return math.nan

    return call


Math = JsNamespace(
    "Math",
    {
        "PI": math.pi,
        "E": math.e,
        "LN2": math.log(2),
        "LN10": math.log(10),
        "SQRT2": math.sqrt(2),
        "abs": _math(abs),
        "ceil": _math(math.ceil),
        "floor": _math(math.floor),
        "round": _math(lambda x: math.floor(x + 0.5)),
        "trunc": _math(math.trunc),
        "sign": _math(lambda x: (x > 0) - (x < 0)),
        "max": _math(lambda *a: max(a, default=-math.inf)),
        "min": _math(lambda *a: min(a, default=math.inf)),
        "pow": _math(math.pow),
        "sqrt": _math(math.sqrt),
        "cbrt": _math(lambda x: math.copysign(abs(x) ** (1 / 3), x)),
        "log": _math(math.log),
        "log2": _math(math.log2),
        "log10": _math(math.log10),
        "exp": _math(math.exp),
        "sin": _math(math.sin),
        "cos": _math(math.cos),
        "tan": _math(math.tan),
        "atan2": _math(math.atan2),
        "hypot": _math(math.hypot),
        "random": random.random,
    },
)

_ENTROPY_LIMIT = 65536


def _random_uuid() -> str:
    forbid_in_global_scope()
    return str(uuid.uuid4())


def _get_random_values(array: Any) -> Any:
    forbid_in_global_scope()
    size = len(array)
    if size > _ENTROPY_LIMIT:
        raise JsException(
            "QuotaExceededError",
            f"The ArrayBufferView's byte length ({size}) exceeds the number of bytes of "
            f"entropy available via this API ({_ENTROPY_LIMIT})",
        )
    data = os.urandom(size)
    if isinstance(array, JsBuffer):
        array.set(data)
    else:
        array[:] = data
    return array


class _Crypto(JsNamespace):
    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name == "subtle":
            raise NotEmulatedError("js.crypto.subtle: cfemu does not emulate WebCrypto")
        return super().__getattr__(name)


crypto = _Crypto("Crypto", {"randomUUID": _random_uuid, "getRandomValues": _get_random_values})


# --- Array, typed arrays, Map, Set, Error, Promise ----------------------------------------
def _array_from(items: Any, map_fn: Callable[..., Any] | None = None) -> JsArray:
    if isinstance(items, JsMap):
        items = items.entries()
    values = list(items)
    if map_fn is not None:
        values = [map_fn(v, i) for i, v in enumerate(values)]
    return JsArray(values)


Array = JsConstructor(
    "Array",
    lambda *a: JsArray([None] * a[0] if len(a) == 1 and isinstance(a[0], int) else a),
    lambda *a: JsArray([None] * a[0] if len(a) == 1 and isinstance(a[0], int) else a),
    {"from": _array_from, "of": lambda *a: JsArray(a), "isArray": lambda x: isinstance(x, JsArray)},
)


def _uint8(source: Any = 0, offset: int = 0, length: int | None = None) -> JsBuffer:
    if isinstance(source, int):
        return JsBuffer(bytearray(source))
    if isinstance(source, JsBuffer):
        if source._kind == "ArrayBuffer":
            return JsBuffer(source._data, "Uint8Array", offset, length)
        return JsBuffer(bytearray(source.to_bytes()))
    if isinstance(source, bytes | bytearray | memoryview):
        return JsBuffer(bytearray(source))
    return JsBuffer(bytearray(int(v) & 0xFF for v in source))


Uint8Array = JsConstructor(
    "Uint8Array",
    _uint8,
    statics={"from": lambda items, fn=None: _uint8(_array_from(items, fn))},
)
ArrayBuffer = JsConstructor(
    "ArrayBuffer",
    lambda size=0: JsBuffer(bytearray(int(size)), "ArrayBuffer"),
    statics={"isView": lambda x: isinstance(x, JsBuffer) and x._kind != "ArrayBuffer"},
)
Map = JsConstructor(
    "Map", lambda entries=None: JsMap([list(e) for e in entries] if entries is not None else [])
)
Set = JsConstructor("Set", lambda items=(): JsSet(items if items is not None else ()))
Error = JsConstructor(
    "Error",
    lambda message="": JsException("Error", js_string(message)),
    lambda message="": JsException("Error", js_string(message)),
)


def _promise(executor: Callable[..., Any]) -> JsPromise:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def resolve(value: Any = None) -> None:
        if not future.done():
            future.set_result(value)

    def reject(reason: Any = None) -> None:
        if not future.done():
            error = (
                reason if isinstance(reason, BaseException) else JsException("Error", str(reason))
            )
            future.set_exception(error)

    executor(resolve, reject)
    return JsPromise(future)


async def _gather(items: Any) -> JsArray:
    return JsArray(await asyncio.gather(*(_awaited(i) for i in items)))


async def _awaited(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _rejected(reason: Any) -> Any:
    raise reason if isinstance(reason, BaseException) else JsException("Error", str(reason))


Promise = JsConstructor(
    "Promise",
    _promise,
    statics={
        "resolve": JsPromise.resolve,
        "reject": lambda reason: JsPromise(_rejected(reason)),
        "all": lambda items: JsPromise(_gather(items)),
    },
)


# --- Fetch API ----------------------------------------------------------------------------
Response = JsConstructor(
    "Response",
    web.new_response,
    statics={
        "json": web.response_json,
        "redirect": web.response_redirect,
        "error": web.response_error,
    },
)
Request = JsConstructor("Request", web.new_request)
FormData = JsConstructor("FormData", lambda: JsFormData())
Headers = JsConstructor("Headers", web.JsHeaders.new)
URL = JsConstructor("URL", url.JsURL, statics={"canParse": lambda u, b=None: _can_parse(u, b)})
URLSearchParams = JsConstructor("URLSearchParams", url.JsURLSearchParams)


def _can_parse(text: Any, base: Any) -> bool:
    try:
        url.JsURL(text, base)
    except JsException:
        return False
    return True


def _fetch(resource: Any, init: Any = None, **kwargs: Any) -> JsPromise:
    """``fetch(resource, init)``: a promise of a ``Response``, over cfemu's outbound
    transport (the one ``workers.fetch`` uses)."""
    forbid_in_global_scope()
    request = web.new_request(resource, init, **kwargs)._r
    return JsPromise(_send(request))


async def _send(request: Any) -> web.JsResponse:
    from cfemu.runtime.outbound import fetch as outbound_fetch

    try:
        response = await outbound_fetch(request)
    except NotEmulatedError:
        raise
    except Exception as exc:  # JavaScript's fetch rejects with a TypeError
        raise JsException("TypeError", str(exc)) from None
    return web.JsResponse(response)


fetch = JsCallable(_fetch, "fetch")
