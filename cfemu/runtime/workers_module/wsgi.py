"""``workers.wsgi``: serve a WSGI application (Flask, Django...) from a Worker.

``Default = wsgi.entrypoint(app)``, or ``return await wsgi.fetch(app, request, self.env)``
inside ``fetch``. The app gets a PEP 3333 environ plus ``environ["workers.env"]`` (the
Worker's bindings), as with Cloudflare's SDK. It runs synchronously inside the event, so
it can call ``pyodide.ffi.run_sync`` to await bindings. The request body is buffered
(``wsgi.input`` is a ``BytesIO``); the response body is collected before it is returned.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from cfemu.runtime.entrypoints import WorkerEntrypoint
from cfemu.runtime.http import FetchResponse, Headers, Request, Response
from cfemu.runtime.workers_module.gateway import BaseOptions

__all__ = ["Options", "build_environ", "entrypoint", "fetch"]

_NULL_BODY_STATUSES = frozenset({101, 103, 204, 205, 304})


@dataclass(frozen=True, kw_only=True)
class Options(BaseOptions):
    """Options of the WSGI adapter (``encode_body``, see ``workers.gateway``)."""


def _native(value: str) -> str:
    """A WSGI "native string": the UTF-8 bytes of ``value`` as latin-1 code points."""
    return value.encode("utf-8").decode("latin-1")


def _request(req: Any) -> Request:
    unwrap = getattr(req, "__cfemu_request__", None)
    return unwrap() if unwrap is not None else req  # type: ignore[no-any-return]


def build_environ(req: Request, env: Any, body: bytes) -> dict[str, Any]:
    """The PEP 3333 environ of ``req``, with ``"workers.env"``."""
    url = urlsplit(req.url)
    if not url.scheme:
        raise ValueError(f"Request URL is not absolute: {req.url!r}")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": str(req._method),
        "SCRIPT_NAME": "",
        "PATH_INFO": _native(unquote(url.path or "/")),
        "QUERY_STRING": url.query,
        "SERVER_NAME": url.hostname or "localhost",
        "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "workers.env": env,
    }
    for name, value in req._headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
            continue
        key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    if "CONTENT_LENGTH" not in environ and body:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def _run(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Response:
    state: dict[str, Any] = {"status": None, "headers": None}
    written: list[bytes] = []

    def write(chunk: bytes) -> None:
        if state["status"] is None:
            raise AssertionError("write() called before start_response()")
        written.append(bytes(chunk))

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None:
            try:
                if state["status"] is not None:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif state["status"] is not None:
            raise AssertionError("start_response() called more than once")
        state["status"], state["headers"] = status, headers
        return write

    result = app(environ, start_response)
    try:
        chunks = [bytes(chunk) for chunk in result if chunk]
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if state["status"] is None:
        raise RuntimeError("The WSGI application did not call start_response()")
    code_text, _, reason = str(state["status"]).partition(" ")
    code = int(code_text)
    body = b"".join(written + chunks)
    headers = Headers([(str(k), str(v)) for k, v in state["headers"]])
    return FetchResponse._build(
        code, headers, None if code in _NULL_BODY_STATUSES else body, status_text=reason
    )


async def fetch(
    app: Any, req: Request, env: Any, ctx: Any = None, *, options: Options | None = None
) -> Response:
    """Run the WSGI ``app`` for ``req`` and return its response."""
    del ctx, options
    request = _request(req)
    return _run(app, build_environ(request, env, request.raw_body() or b""))


def entrypoint(app: Any, *, options: Options | None = None) -> type[WorkerEntrypoint]:
    """A ``Default`` entrypoint class serving ``app``: ``Default = wsgi.entrypoint(app)``."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request: Request) -> Response:
            return await fetch(app, request, self.env, options=options)

    return Default
