"""cfemu's stand-in for Pyodide's ``js`` module (JavaScript's global scope).

While cfemu imports a Worker module or runs one of its events, ``import js`` resolves here
(see :mod:`cfemu.runtime._scope`). It has the globals Python Workers use (spec:
python-runtime.md §3): ``console``, ``Response``, ``Request``, ``Headers``, ``URL``,
``URLSearchParams``, ``Object``, ``JSON``, ``Date``, ``fetch``, ``crypto``, ``Math``,
``Array``, ``Uint8Array``, ``ArrayBuffer``, ``FormData``, ``Map``, ``Set``, ``Error``, ``Promise``,
``setTimeout``/``clearTimeout`` (on the emulator's clock), ``undefined`` (``None``) and
``null`` (``jsnull``). Any other name raises :class:`~cfemu.errors.NotEmulatedError`
naming it.
"""

from __future__ import annotations

from typing import Any

from cfemu.errors import NotEmulatedError
from cfemu.runtime.js_module.globals import JSON as JSON
from cfemu.runtime.js_module.globals import URL as URL
from cfemu.runtime.js_module.globals import (
    Array,
    ArrayBuffer,
    Error,
    FormData,
    Headers,
    Map,
    Math,
    Object,
    Promise,
    Request,
    Response,
    Set,
    Uint8Array,
    URLSearchParams,
    console,
    crypto,
    fetch,
)
from cfemu.runtime.js_module.proxy import js_null
from cfemu.runtime.js_module.timing import Date, clearTimeout, queueMicrotask, setTimeout

#: JavaScript ``undefined`` reaches Python as ``None``.
undefined = None

__all__ = [
    "JSON",
    "URL",
    "Array",
    "ArrayBuffer",
    "Date",
    "Error",
    "FormData",
    "Headers",
    "Map",
    "Math",
    "Object",
    "Promise",
    "Request",
    "Response",
    "Set",
    "URLSearchParams",
    "Uint8Array",
    "clearTimeout",
    "console",
    "crypto",
    "fetch",
    "null",
    "queueMicrotask",
    "setTimeout",
    "undefined",
]


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(f"module 'js' has no attribute {name!r}")
    if name == "null":  # jsnull, or None on Pyodide 0.26 (the Worker's compatibility date)
        return js_null()
    if name == "globalThis":
        import sys

        return sys.modules[__name__]
    raise NotEmulatedError(
        f"js.{name}: cfemu runs Python Workers in CPython and emulates only part of "
        "JavaScript's global scope (see docs/workers.md, 'The js and pyodide modules')"
    )
