"""``workers.rpc``: where Cloudflare's SDK keeps ``python_to_rpc``, ``python_from_rpc`` and
``JsDict``."""

from __future__ import annotations

from cfemu._js import JsDict
from cfemu.runtime.rpc import python_from_rpc, python_to_rpc

__all__ = ["JsDict", "python_from_rpc", "python_to_rpc"]
