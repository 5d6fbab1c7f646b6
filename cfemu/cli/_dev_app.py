"""The ASGI application ``cfemu dev`` serves: the Worker, the mounts beside it, request lines.

One object instead of a wrapper per concern (request log, Local Explorer, REST API, the
Worker's app): a request for the Worker goes from uvicorn to
:meth:`~cfemu.runtime.transport.WorkerASGIApp.serve_http` in one call, which hands back the
status for the request line, so no ``send`` is wrapped to watch for it. A request under a
mount's prefix (``/cdn-cgi/explorer``, ``/client/v4``...) goes to that mount when its
``Host`` is allowed (:mod:`cfemu.api.hosts`: DNS rebinding) and is refused with a 403
otherwise, as :func:`~cfemu.api.with_api` and :func:`~cfemu.explorer.with_explorer` do.

The object uvicorn serves stays the same for the whole run: on a reload or a restart,
``cfemu dev`` gives it what the new emulator serves (:meth:`DevApp.set`), and holds requests
meanwhile (:meth:`DevApp.hold`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from cfemu._log import REQUESTS
from cfemu.cli.logs import log_request
from cfemu.runtime.transport import WorkerASGIApp

__all__ = ["DevApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class DevApp:
    """``cfemu dev``'s ASGI app: ``worker`` at the root, each of ``mounts`` (prefix, app,
    what it is, for the 403's wording) under its prefix, one request line per HTTP request
    on ``cfemu.requests`` (``GET /path 200 OK (3ms)``).

    Made without a ``worker``, it holds requests until :meth:`set` gives it one.
    """

    __slots__ = ("_also", "_held", "_mounts", "_ready", "_starts", "worker")

    def __init__(
        self,
        worker: WorkerASGIApp | None = None,
        mounts: Iterable[tuple[str, ASGIApp, str]] = (),
        *,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.worker: Any = worker
        self._mounts = tuple(
            (prefix.encode(), prefix.encode() + b"/", app, what) for prefix, app, what in mounts
        )
        # Every mount's prefix: one C-level startswith tells a request for the Worker.
        self._starts = tuple(prefix for prefix, _folder, _app, _what in self._mounts)
        self._also = tuple(allowed_hosts)
        self._held = worker is None
        self._ready: asyncio.Event | None = None  # made when a request first waits

    def set(self, app: DevApp) -> None:
        """Serve what ``app`` serves from now on, releasing the requests held meanwhile."""
        self.worker, self._mounts, self._also = app.worker, app._mounts, app._also
        self._starts = app._starts
        self._held = False
        if self._ready is not None:
            self._ready.set()

    def hold(self) -> None:
        """Hold new requests until the next :meth:`set` (during a restart)."""
        self._held = True
        if self._ready is not None:
            self._ready.clear()

    async def _released(self) -> None:
        while self._held:
            if self._ready is None:
                self._ready = asyncio.Event()
            await self._ready.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if self._held:
            await self._released()
        if scope["type"] != "http":
            await self.worker(scope, receive, send)
            return
        raw = scope.get("raw_path") or scope["path"].encode()
        if raw.startswith(self._starts):  # maybe a mount's (an empty tuple matches nothing)
            for prefix, folder, app, what in self._mounts:
                if raw == prefix or raw.startswith(folder):
                    await self._mounted(app, what, scope, receive, send)
                    return
        if not REQUESTS.isEnabledFor(logging.INFO):
            await self.worker.serve_http(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        try:
            status = await self.worker.serve_http(scope, receive, send)
        finally:
            log_request(scope, status, started)

    async def _mounted(
        self, app: ASGIApp, what: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        from cfemu.api.hosts import host_allowed, refuse_host, request_host

        started = time.perf_counter()
        status = 500

        def capture(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message.get("status", 500))
            return send(message)

        try:
            if host_allowed(request_host(scope), self._also):
                await app(scope, receive, capture)
            else:
                await refuse_host(scope, receive, capture, what)
        finally:
            if REQUESTS.isEnabledFor(logging.INFO):
                log_request(scope, status, started)
