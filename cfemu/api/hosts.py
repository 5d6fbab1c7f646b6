"""Which ``Host`` a request to ``cfemu dev``'s own mounts (the REST API, the Local
Explorer) may carry: the guard against DNS rebinding.

A page on ``evil.example`` can make its own name resolve to ``127.0.0.1``; the browser then
treats ``cfemu dev`` as ``evil.example`` itself (same origin: no ``Origin`` check or CORS
stops it) but still sends ``Host: evil.example:8787``. So the mounts answer only requests
whose ``Host`` is an IP address (rebinding needs a name), ``localhost`` or a name under
``.localhost`` (browsers resolve those to loopback themselves), or a name ``cfemu dev`` was
told to serve (its ``--ip`` when that is a name); anything else is refused with 403. The
Worker's own routes are not concerned: a Worker answers whatever ``Host`` it is sent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from cfemu.api._http import ApiError, Receive, Scope, Send, error_response, send_response

__all__ = ["host_allowed", "refuse_host", "request_host"]


def request_host(scope: Scope) -> str | None:
    """The ``Host`` header of an ASGI request (``None`` when it has none)."""
    for key, value in scope.get("headers") or ():
        if key == b"host":
            return str(value.decode("latin-1"))
    return None


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8787
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    return host.rstrip(".")


def host_allowed(host: str | None, also: Iterable[str] = ()) -> bool:
    """Whether a request with this ``Host`` header may use the mounts (``None``, an
    HTTP/1.0 request without one, may: no browser sends that)."""
    if host is None:
        return True
    name = _hostname(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name in {_hostname(extra) for extra in also}
    return True


async def refuse_host(scope: Scope, receive: Receive, send: Send, what: str) -> None:
    """Answer a request whose ``Host`` is not allowed: 403 in Cloudflare's envelope."""
    del receive
    host = request_host(scope)
    error = ApiError(
        403,
        10000,
        f"Host {host!r} may not use {what}: only localhost, an IP address or the name "
        "cfemu dev listens on (--ip) are answered (DNS rebinding protection)",
    )
    await send_response(send, error_response(error))
