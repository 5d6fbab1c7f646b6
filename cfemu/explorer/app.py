"""The Local Explorer as an ASGI application, and its mounting beside a Worker.

``<prefix>`` is ``/cdn-cgi/local/explorer`` (Cloudflare's current path) or
``/cdn-cgi/explorer`` (its older one): ``<prefix>`` serves the page, ``<prefix>/api`` the
OpenAPI document and ``<prefix>/api/...`` the JSON API, in Cloudflare's envelope (spec
rest-api.md §7). A request whose ``Origin`` is another site is refused (403), as
Cloudflare's local explorer accepts only local origins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from cfemu.api._http import (
    ApiError,
    ApiResponse,
    ASGIApp,
    Receive,
    Router,
    Scope,
    Send,
    error_response,
    read_request,
    send_response,
)
from cfemu.api.hosts import host_allowed, refuse_host, request_host
from cfemu.explorer.openapi import openapi_document
from cfemu.explorer.views import assemble_page

if TYPE_CHECKING:
    from cfemu.emulator import Emulator

__all__ = ["EXPLORER_PREFIXES", "ExplorerApp", "explorer_app", "with_explorer"]

#: Where the explorer lives: Cloudflare's current path first, then its older one.
EXPLORER_PREFIXES: Final = ("/cdn-cgi/local/explorer", "/cdn-cgi/explorer")
_MAX_BODY_BYTES: Final = 10 * 1024 * 1024
_LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_CSP: Final = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:"
)

_log = logging.getLogger("cfemu.explorer")


class ExplorerApp:
    """The explorer's page and JSON API for one emulator (an ASGI application)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.router = Router()
        self._routed = False
        self._page: bytes | None = None

    def _routes(self) -> Router:
        if not self._routed:
            from cfemu.d1.service import D1Service
            from cfemu.explorer import d1, d1_browse, queues
            from cfemu.queues.service import QueueService

            d1.add_routes(self.router, self.emulator.service(D1Service))
            d1_browse.add_routes(self.router, self.emulator.service(D1Service))
            queues.add_routes(self.router, self.emulator.service(QueueService))
            self._add_kind_routes()
            self._routed = True
        return self.router

    def _add_kind_routes(self) -> None:
        """Routes of the kinds a config may not use: each gets its service or ``None`` (a
        kind no config uses is never imported)."""
        from cfemu.explorer import durable_objects, kv, workers, workflows

        services: dict[str, Any] = dict(self.emulator.services)
        kv.add_routes(self.router, services.get("kv"))
        durable_objects.add_routes(self.router, services.get("durable_objects"))
        workflows.add_routes(self.router, services.get("workflows"))
        workers.add_routes(self.router, self.emulator)

    def page(self) -> bytes:
        """The explorer's single HTML page (inline script and style, nothing fetched)."""
        if self._page is None:
            self._page = assemble_page()
        return self._page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers: dict[str, str] = {}
        try:
            request = await read_request(scope, receive, _MAX_BODY_BYTES)
            origin = request.headers.get("origin")
            _check_origin(origin, request.headers.get("host", ""))
            if origin:
                headers["access-control-allow-origin"] = origin
                headers["vary"] = "Origin"
            prefix = _prefix_of(request.path)
            rest = request.path[len(prefix) :]
            if rest in ("", "/"):
                if request.method not in ("GET", "HEAD"):
                    raise ApiError(405, 10000, f"Method {request.method} not allowed")
                response = ApiResponse(
                    200,
                    self.page(),
                    {
                        "content-type": "text/html; charset=utf-8",
                        "content-security-policy": _CSP,
                        "cache-control": "no-store",
                    },
                    raw=True,
                )
            elif rest == "/api" or rest.startswith("/api/"):
                route = rest[len("/api") :] or "/"
                if request.method == "OPTIONS":  # a preflight: Cloudflare's explorer's answer
                    headers.update(
                        {
                            "access-control-allow-origin": origin or "*",
                            "access-control-allow-methods": (
                                "GET, POST, PUT, PATCH, DELETE, OPTIONS"
                            ),
                            "access-control-allow-headers": (
                                "Content-Type, cf-metadata-only, cf-r2-custom-metadata"
                            ),
                            "access-control-max-age": "86400",
                        }
                    )
                    response = ApiResponse(204, b"", raw=True)
                elif route == "/" and request.method == "GET":
                    response = ApiResponse(200, openapi_document(prefix + "/api"))
                else:
                    handler, request.params = self._routes().resolve(request.method, route)
                    response = await handler(request)
            else:
                raise ApiError(404, 10000, "Not found")
        except ApiError as exc:
            response = error_response(exc)
            response.headers.pop("x-should-retry", None)
        except Exception as exc:  # as Cloudflare's explorer: 500, code 10000, the message
            _log.exception("Local Explorer: %s %s failed", scope.get("method"), scope.get("path"))
            response = ApiResponse(
                500,
                {
                    "success": False,
                    "errors": [{"code": 10000, "message": str(exc) or "Internal Server Error"}],
                    "messages": [],
                    "result": None,
                },
            )
        response.headers.update(headers)
        await send_response(send, response)


def _prefix_of(path: str) -> str:
    """The explorer prefix ``path`` is under; 404 when none."""
    for prefix in EXPLORER_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return prefix
    raise ApiError(404, 10000, "Not found")


def _check_origin(origin: str | None, host: str) -> None:
    """Refuse a browser request sent from another site (a page elsewhere calling the API)."""
    if not origin:
        return
    origin_host = urlsplit(origin).netloc
    name = urlsplit(origin).hostname or ""
    if origin_host != host and name not in _LOCAL_HOSTS:
        raise ApiError(403, 10000, f"Origin {origin} may not use the Local Explorer")


def explorer_app(emulator: Emulator) -> ExplorerApp:
    """The emulator's Local Explorer as an ASGI application (see :class:`ExplorerApp`)."""
    return ExplorerApp(emulator)


def with_explorer(
    worker_app: Any, explorer: ExplorerApp | ASGIApp, *, allowed_hosts: Iterable[str] = ()
) -> Any:
    """An ASGI application sending the explorer's paths to ``explorer``, the rest to
    ``worker_app`` (how ``cfemu dev`` serves both on one port). A request for the explorer
    whose ``Host`` is not local, an IP address or one of ``allowed_hosts`` is refused (403:
    DNS rebinding, see :mod:`cfemu.api.hosts`)."""
    prefixes = [(p.encode(), p.encode() + b"/") for p in EXPLORER_PREFIXES]
    also = tuple(allowed_hosts)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope["path"].encode()
            for prefix, folder in prefixes:
                if raw == prefix or raw.startswith(folder):
                    if host_allowed(request_host(scope), also):
                        await explorer(scope, receive, send)
                    else:
                        await refuse_host(scope, receive, send, "the Local Explorer")
                    return
        await worker_app(scope, receive, send)

    return app
