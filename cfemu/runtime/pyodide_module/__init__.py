"""cfemu's stand-in for Pyodide's ``pyodide`` package, as Python Workers see it.

While cfemu imports a Worker module or runs one of its events, ``import pyodide`` resolves
here (see :mod:`cfemu.runtime._scope`): ``pyodide.ffi`` (``to_js``, ``create_proxy``,
``JsProxy``..., ``run_sync``), ``pyodide.http`` (``pyfetch``) and ``pyodide.code``
(``relaxed_call``). cfemu behaves as Pyodide 0.28 (JavaScript ``null`` is ``jsnull``, or
``None`` for a Worker whose compatibility date selects Pyodide 0.26; ``run_sync`` works
inside a request). Any other name raises
:class:`~cfemu.errors.NotEmulatedError` naming it.
"""

from __future__ import annotations

from typing import Any

from cfemu.errors import NotEmulatedError
from cfemu.runtime.pyodide_module import code as code
from cfemu.runtime.pyodide_module import ffi as ffi
from cfemu.runtime.pyodide_module import http as http

#: The Pyodide release cfemu follows (the runtime of compatibility dates from 2025-09-29).
__version__ = "0.28.2"

__all__ = ["code", "ffi", "http"]


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(f"module 'pyodide' has no attribute {name!r}")
    raise NotEmulatedError(f"pyodide.{name}: not emulated by cfemu (see docs/workers.md)")
