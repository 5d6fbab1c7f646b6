"""``workers.asgi``: serve an ASGI application (FastAPI, Starlette...) from a Worker.

``Default = asgi.entrypoint(app)``, or ``return await asgi.fetch(app, request, self.env)``
inside ``fetch``. The app sees ``scope["env"]``, as with Cloudflare's SDK. cfemu runs one
HTTP request per call with a buffered body; it sends no lifespan events and does not
support WebSockets.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from cfemu.runtime.entrypoints import WorkerEntrypoint
from cfemu.runtime.headers import decode_header
from cfemu.runtime.http import FetchResponse, Headers, Request, Response
from cfemu.runtime.workers_module.gateway import BaseOptions

__all__ = ["Options", "entrypoint", "fetch"]


@dataclass(frozen=True, kw_only=True)
class Options(BaseOptions):
    """Options of the ASGI adapter (``encode_body``, see ``workers.gateway``)."""


_ASGI = {"spec_version": "2.3", "version": "3.0"}


def _scope_for(request: Request, env: Any) -> dict[str, Any]:
    url = urlsplit(request.url)
    host = url.hostname or "localhost"
    port = url.port or (443 if url.scheme == "https" else 80)
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": "1.1",
        "method": str(request.method),
        "scheme": url.scheme or "http",
        "path": unquote(url.path or "/"),
        "raw_path": (url.path or "/").encode(),
        "query_string": url.query.encode(),
        "root_path": "",
        "headers": [(k.encode("ascii"), v.encode("utf-8")) for k, v in request._headers],
        "server": (host, port),
        "client": None,
        "env": env,
    }


async def fetch(
    app: Any, req: Request, env: Any, ctx: Any = None, *, options: Options | None = None
) -> Response:
    """Run ``app`` for ``req`` (a ``Request`` or a ``js.Request``) and return its response
    as a :class:`Response`."""
    del ctx, options
    unwrap = getattr(req, "__cfemu_request__", None)
    if unwrap is not None:
        req = unwrap()
    body = req.raw_body() or b""
    sent_request = False
    status = 500
    headers = Headers()
    chunks: list[bytes] = []
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, done
        if message["type"] == "http.response.start":
            status = int(message["status"])
            for name, value in message.get("headers", []):
                headers.append(name.decode("latin-1"), decode_header(value))
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            done = not message.get("more_body", False)

    await app(_scope_for(req, env), receive, send)
    if not done:
        raise RuntimeError("The application did not generate a response")
    return FetchResponse._build(status, headers, b"".join(chunks))


def entrypoint(app: Any, *, options: Options | None = None) -> type[WorkerEntrypoint]:
    """A ``Default`` entrypoint class serving ``app``: ``Default = asgi.entrypoint(app)``."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request: Request) -> Response:
            return await fetch(app, request, self.env, self.ctx, options=options)

    return Default


def _scope_env(request: Any) -> Any:
    return request.scope["env"]


def __getattr__(name: str) -> Any:
    """``asgi.env``: a FastAPI dependency giving the Worker's env (``scope["env"]``), as the
    SDK offers it; FastAPI is imported only when it is asked for."""
    if name == "env":
        fastapi = importlib.import_module("fastapi")  # optional: only FastAPI apps ask

        async def env(request: Any) -> Any:
            return _scope_env(request)

        env.__annotations__["request"] = fastapi.Request  # FastAPI injects by this type
        return fastapi.Depends(env)
    raise AttributeError(f"module 'workers.asgi' has no attribute {name!r}")
