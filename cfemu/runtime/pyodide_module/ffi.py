"""``pyodide.ffi``: conversions and proxies between Python and (cfemu's stand-in for)
JavaScript.

``to_js`` converts deeply (``dict_converter=js.Object.fromEntries`` gives plain objects);
``create_proxy``/``create_once_callable`` wrap Python callables for JavaScript;
``JsProxy`` and its subtypes serve ``isinstance`` checks; ``run_sync`` runs an awaitable to
completion from synchronous code, which Pyodide allows only while a request is being
handled ("No suspender" otherwise, spec: python-runtime.md §4).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from cfemu.runtime import _scope
from cfemu.runtime.js_module.containers import JsArray, JsBuffer, JsMap, JsSet
from cfemu.runtime.js_module.convert import to_js
from cfemu.runtime.js_module.promise import JsPromise
from cfemu.runtime.js_module.proxy import (
    ConversionError,
    JsCallable,
    JsDoubleProxy,
    JsException,
    JsNull,
    JsProxy,
    jsnull,
)

__all__ = [
    "IN_BROWSER",
    "ConversionError",
    "JsArray",
    "JsBuffer",
    "JsCallable",
    "JsDoubleProxy",
    "JsException",
    "JsMap",
    "JsMutableMap",
    "JsNull",
    "JsPromise",
    "JsProxy",
    "JsSet",
    "JsTypedArray",
    "create_once_callable",
    "create_proxy",
    "destroy_proxies",
    "jsnull",
    "to_js",
]

#: Pyodide's flag for running in a browser; a Worker is not one.
IN_BROWSER = False
#: Pyodide's names for the typed-array and mutable-map proxy types.
JsTypedArray = JsBuffer
JsMutableMap = JsMap


def create_proxy(
    obj: Any, /, *, capture_this: bool = False, roundtrip: bool = True
) -> JsDoubleProxy:
    """A persistent proxy of ``obj`` for JavaScript: ``.destroy()``, ``.unwrap()``."""
    del capture_this, roundtrip
    return JsDoubleProxy(obj)


def create_once_callable(
    obj: Callable[..., Any], /, *, _may_syncify: bool = False
) -> JsDoubleProxy:
    """A proxy of ``obj`` that can be called once; a second call raises ``JsException``
    ``Error: OnceProxy can only be called once``."""
    return JsDoubleProxy(obj, once=True)


def destroy_proxies(proxies: Iterable[Any], /) -> None:
    """Destroy every proxy in ``proxies``."""
    for proxy in proxies:
        proxy.destroy()


def _can_run_sync() -> bool:
    """Whether :func:`run_sync` can work here: inside a request, not at import time."""
    state = _scope.current.get()
    return state is not None and state.ctx is not None


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _run_sync(awaitable: Awaitable[Any], /) -> Any:
    """Run ``awaitable`` to completion and return its result, from synchronous code.

    Outside a request raises ``RuntimeError("No suspender")``, as Pyodide does. cfemu runs
    the awaitable on a nested event loop while the Worker's event waits; work it awaits must
    not wait for the emulator's own timers or tasks (a virtual clock does not advance
    meanwhile).
    """
    if not _can_run_sync():
        raise RuntimeError("No suspender")
    if isinstance(awaitable, JsPromise) and awaitable._settled is not None:
        return awaitable._settled[0]
    if not inspect.isawaitable(awaitable):
        raise TypeError(f"run_sync() expects an awaitable, got {type(awaitable).__name__}")
    try:
        outer = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(awaitable))
    loop = asyncio.new_event_loop()
    asyncio.events._set_running_loop(None)
    try:
        return loop.run_until_complete(_awaited(awaitable))
    finally:
        loop.close()
        asyncio.events._set_running_loop(outer)


def __getattr__(name: str) -> Any:
    """``run_sync`` and ``can_run_sync`` exist from Pyodide 0.28 on: a Worker on Pyodide 0.26
    (``python_workers`` before 2025-09-29) cannot import them, as on Cloudflare."""
    if name in ("run_sync", "can_run_sync"):
        if _scope.current_compat().pyodide_version.startswith("0.26"):
            raise AttributeError(f"module 'pyodide.ffi' has no attribute {name!r}")
        return _run_sync if name == "run_sync" else _can_run_sync
    raise AttributeError(f"module 'pyodide.ffi' has no attribute {name!r}")
