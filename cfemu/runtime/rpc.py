"""``python_to_rpc``/``python_from_rpc``: the SDK's conversions at the Python/JS boundary.

In cfemu there is no JavaScript side, so values pass through; what stays is the SDK's
checking (tuples, bytearrays and awaitables cannot cross RPC) and its shape for results
(plain objects arrive as :class:`~cfemu._js.JsDict`, nested).
"""

from __future__ import annotations

from typing import Any

from cfemu._js import check_rpc, to_js_dict

__all__ = ["python_from_rpc", "python_to_rpc"]


def python_to_rpc(value: Any) -> Any:
    """Check that ``value`` can be sent over Workers RPC, and return it.

    Raises ``TypeError: <type> cannot be sent over RPC.`` for tuples and bytearrays (at any
    depth) and ``TypeError: Awaitable <type> cannot be sent over RPC.`` for awaitables.
    """
    check_rpc(value)
    return value


def python_from_rpc(value: Any) -> Any:
    """A value as it arrives from RPC: dicts become attribute-accessible ``JsDict``s."""
    return to_js_dict(value)
