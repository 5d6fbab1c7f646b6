"""HTTP into a Worker: an in-process httpx transport and an ASGI application.

Both read the request body incrementally and stop at the Worker's
``max_request_body_bytes`` (a declared ``Content-Length`` over the limit is refused before
any byte is read), answering 413 as Cloudflare does; memory use is bounded by the limit.

Both take an optional ``dispatch``: the coroutine function that turns a
:class:`~cfemu.runtime.http.Request` into a response (default: ``worker.fetch``), so the
emulator can route or wrap requests. ``test_scheduled=True`` adds wrangler's
``--test-scheduled`` endpoint: ``/__scheduled?cron=...`` (and Python Workers'
``/cdn-cgi/handler/scheduled``) runs the Worker's ``scheduled`` handler.

Both check what a front end checks (:mod:`cfemu.runtime.frontend`): a bad ``Host``, request
target or header gets ``400 Bad Request`` before the Worker runs, and ``request.url`` is
built from the validated parts only; ``trust_forwarded=True`` lets ``Forwarded`` /
``X-Forwarded-Proto`` / ``X-Forwarded-Host`` set its scheme and host. Response headers go
out as UTF-8, as workerd sends them. The ASGI app takes a ``body_timeout``: a request body
that stalls longer than that between two chunks gets ``408 Request Timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from cfemu._log import CRONS, invocation
from cfemu.clock import Clock
from cfemu.runtime._wire import (
    RESPOND,
    WIRE_PAIR_BYTES,
    WIRE_PAIRS_MAX,
    lean_url,
    received,
    url_of,
)
from cfemu.runtime.frontend import BadRequestError, request_url
from cfemu.runtime.headers import Headers, decode_header
from cfemu.runtime.http import FetchResponse, Request, Response
from cfemu.runtime.worker import Worker, payload_too_large

__all__ = [
    "SCHEDULED_PATHS",
    "Dispatch",
    "WorkerASGIApp",
    "WorkerTransport",
    "asgi_app",
    "bad_request",
    "scheduled_dispatch",
    "with_body_timeout",
]

#: A function answering one request, e.g. ``worker.fetch``.
Dispatch = Callable[[Request], Awaitable[FetchResponse]]
#: Paths of the ``--test-scheduled`` endpoint (wrangler's, and Python Workers').
SCHEDULED_PATHS = frozenset({"/__scheduled", "/cdn-cgi/handler/scheduled"})

_logger = logging.getLogger("cfemu.runtime")
# Framing headers a server computes itself; a Worker's values for them are not forwarded.
_HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
_HTTP1 = frozenset({"1.0", "1.1"})


def scheduled_dispatch(worker: Worker, fallback: Dispatch | None = None) -> Dispatch:
    """A dispatch answering ``/__scheduled?cron=...`` by running ``worker.scheduled(cron)``.

    ``time`` (milliseconds since the epoch) may set ``scheduledTime``. Other paths go to
    ``fallback`` (default: ``worker.fetch``).
    """
    forward = fallback or worker.fetch

    async def dispatch(request: Request) -> FetchResponse:
        url = urlsplit(request.url)
        if url.path not in SCHEDULED_PATHS:
            return await forward(request)
        query = parse_qs(url.query)
        cron = query.get("cron", [""])[0]
        time_ms = query.get("time", [None])[0]
        started = worker.clock.now()
        try:
            when = int(time_ms) / 1000 if time_ms else None
            await worker.scheduled(cron, when)
        except Exception as exc:
            _logger.error("Worker %r: scheduled(%r) failed", worker.name, cron, exc_info=exc)
            took = worker.clock.now() - started
            invocation(CRONS, "CRON", f"{cron!r} ({worker.name})", "failed", took)
            detail = f": {type(exc).__name__}: {exc}" if worker.dev_mode else ""
            return Response(f"Scheduled event failed{detail}", 500)
        invocation(CRONS, "CRON", f"{cron!r} ({worker.name})", "ok", worker.clock.now() - started)
        return Response("Ran scheduled event")

    return dispatch


def _choose_dispatch(worker: Worker, dispatch: Dispatch | None, test_scheduled: bool) -> Dispatch:
    base = dispatch or worker.fetch
    return scheduled_dispatch(worker, base) if test_scheduled else base


def _framed(method: str, response: FetchResponse) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and payload as a server sends them: ``content-length`` is the body's size
    (none for 1xx/204/304), and a HEAD response carries the size but not the body. Header
    values are UTF-8, as workerd writes them."""
    headers = []
    known = _SENT_PAIRS
    for pair in response._headers._pairs:
        sent = known.get(pair)
        if sent is None:
            name, value = pair
            if name in _HOP_HEADERS:
                continue
            sent = (name.encode("ascii"), value.encode("utf-8"))
            if len(value) <= WIRE_PAIR_BYTES and len(known) < WIRE_PAIRS_MAX:
                known[pair] = sent
        headers.append(sent)
    body = response.raw_body() or b""
    status = response.status
    if status >= 200 and status not in (204, 304):
        headers.append((b"content-length", b"%d" % len(body)))
    if method == "HEAD" or status in (204, 304):
        body = b""
    return headers, body


#: Response header pairs as they are sent (bounded as :mod:`cfemu.runtime._wire`'s caches).
_SENT_PAIRS: dict[tuple[str, str], tuple[bytes, bytes]] = {}


async def _read_limited(chunks: AsyncIterable[bytes], limit: int) -> bytes | None:
    """The concatenated chunks, or ``None`` as soon as they exceed ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _declared_too_large(headers: Iterable[tuple[str, str]], limit: int) -> bool:
    for name, value in headers:
        if name.lower() == "content-length":
            return _too_large(value, limit)
    return False


def _too_large(length: str, limit: int) -> bool:
    try:
        return int(length) > limit
    except ValueError:
        return False


def _framing(headers: Iterable[tuple[str, str]]) -> tuple[str | None, bool]:
    """The first ``Content-Length`` value (``None`` without one) and whether the request
    has a ``Transfer-Encoding``."""
    length: str | None = None
    chunked = False
    for name, value in headers:
        key = name.lower()
        if key == "content-length":
            if length is None:
                length = value
        elif key == "transfer-encoding":
            chunked = True
    return length, chunked


def bad_request(reason: str) -> Response:
    """The ``400 Bad Request`` a front end answers to a malformed request."""
    return Response(f"400 Bad Request: {reason}", 400)


def _incoming(
    method: str, url: str, headers: list[tuple[str, str]], body: bytes
) -> Request | Response:
    """The Worker's request, or a 400 for a header no Worker may receive."""
    try:
        return Request.incoming(method, url, headers, body)
    except TypeError as exc:  # an invalid header name or value (cfemu.runtime.headers)
        return bad_request(str(exc))


class WorkerTransport(httpx.AsyncBaseTransport):
    """An httpx transport that calls the Worker's ``fetch`` in-process (no socket).

    ``httpx.AsyncClient(transport=WorkerTransport(worker), base_url="http://worker")``
    sends requests straight to ``Default.fetch``. It checks the request as a front end
    would (see the module's docstring); ``trust_forwarded`` honours forwarding headers.
    """

    def __init__(
        self,
        worker: Worker,
        *,
        dispatch: Dispatch | None = None,
        test_scheduled: bool = False,
        trust_forwarded: bool = False,
    ) -> None:
        self.worker = worker
        self.trust_forwarded = trust_forwarded
        self._dispatch = _choose_dispatch(worker, dispatch, test_scheduled)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Turn the httpx request into a Worker request, run it, and convert the answer."""
        limit = self.worker.max_request_body_bytes
        headers = request.headers.multi_items()
        response: FetchResponse
        if _declared_too_large(headers, limit):
            response = payload_too_large(limit)
        else:
            stream = request.stream
            if isinstance(stream, httpx.AsyncByteStream):
                body = await _read_limited(stream, limit)
            else:
                body = await _read_limited(_aiter_sync(stream), limit)
            if body is None:
                response = payload_too_large(limit)
            else:
                response = await self._answer(request, headers, body)
        out_headers, payload = _framed(request.method, response)
        return httpx.Response(
            response.status,
            headers=out_headers,
            content=payload,
            extensions={"reason_phrase": response.status_text.encode()},
        )

    async def _answer(
        self, request: httpx.Request, headers: list[tuple[str, str]], body: bytes
    ) -> FetchResponse:
        url = request.url
        try:
            full_url = request_url(
                url.scheme,
                url.raw_path.decode("ascii"),
                headers,
                default_host=url.netloc.decode("ascii"),
                trust_forwarded=self.trust_forwarded,
            )
        except BadRequestError as exc:
            return bad_request(str(exc))
        incoming = _incoming(request.method, full_url, headers, body)
        if isinstance(incoming, Response):
            return incoming
        return await self._dispatch(incoming)


async def _aiter_sync(stream: Any) -> Any:
    for chunk in stream:
        yield chunk


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class WorkerASGIApp:
    """An ASGI 3 application serving a Worker (HTTP; lifespan events are acknowledged).

    ``trust_forwarded`` honours forwarding headers; ``body_timeout`` (seconds, on the
    Worker's clock) bounds the wait for each chunk of a request body: past it the request
    gets ``408 Request Timeout`` and the connection is closed.
    """

    def __init__(
        self,
        worker: Worker,
        *,
        dispatch: Dispatch | None = None,
        test_scheduled: bool = False,
        trust_forwarded: bool = False,
        body_timeout: float | None = None,
    ) -> None:
        self.worker = worker
        self.trust_forwarded = trust_forwarded
        self.body_timeout = body_timeout
        self._dispatch = _choose_dispatch(worker, dispatch, test_scheduled)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        kind = scope["type"]
        if kind == "http":
            await self.serve_http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            # cfemu does not emulate WebSockets: refuse the handshake.
            await receive()
            await send({"type": "websocket.close", "code": 1003})

    async def serve_http(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer one HTTP request (an ASGI ``http`` scope); the status sent."""
        method = scope["method"]
        lean = None if self.trust_forwarded else received(scope["headers"])
        if (
            lean is not None  # every header valid, none to trust
            and not lean[3]
            and (lean[2] is None or lean[2] == "0")
            and scope.get("http_version") in _HTTP1
        ):
            # The usual request: no body. HTTP/1.x without Content-Length or
            # Transfer-Encoding has none (RFC 9112 §6.3): nothing to wait for or time out.
            # One coroutine from the scope to the sent response.
            try:
                url = lean_url(scope, lean[1])
            except BadRequestError as exc:
                return await _respond(send, method, bad_request(str(exc)), close=True)
            request = Request._received(method, url, Headers._valid(lean[0]), b"")
            response = await self._dispatch(request)
            headers, payload = _framed(method, response)
            status = response._status
            respond = scope.get(RESPOND)
            if respond is None or not respond(status, headers, payload):
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": payload})
            return status
        limit = self.worker.max_request_body_bytes
        pairs: list[tuple[str, str]] | None = None
        headers_: list[tuple[str, str]] = []
        try:
            if lean is not None:
                pairs, hosts, length, chunked = lean
                url = lean_url(scope, hosts)
            else:
                headers_ = [(k.decode("latin-1"), decode_header(v)) for k, v in scope["headers"]]
                url = url_of(scope, headers_, self.trust_forwarded)
                length, chunked = _framing(headers_)
        except BadRequestError as exc:
            return await _respond(send, method, bad_request(str(exc)), close=True)
        if length is not None and _too_large(length, limit):
            return await _respond(send, method, payload_too_large(limit))
        if (
            not chunked
            and (length is None or length == "0")
            and scope.get("http_version") in _HTTP1
        ):
            return await self._answer(send, method, url, pairs, headers_, b"")
        status = 500  # what was sent, for the body's path (408 included)

        def tracked(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        async def read_and_answer(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                body = await _read_limited(_asgi_body(receive), limit)
            except _DisconnectedError:
                return  # the client left mid-body: a truncated request never reaches fetch
            await self._answer(send, method, url, pairs, headers_, body)

        if self.body_timeout is None:
            await read_and_answer(scope, receive, tracked)
        else:  # the body's chunks are awaited under the deadline (408 past it)
            timed = with_body_timeout(read_and_answer, self.worker.clock, self.body_timeout)
            await timed(scope, receive, tracked)
        return status

    async def _answer(
        self,
        send: Send,
        method: str,
        url: str,
        pairs: list[tuple[str, str]] | None,
        headers: list[tuple[str, str]],
        body: bytes | None,
    ) -> int:
        """Run the Worker for the request (its valid ``pairs``, else its decoded ``headers``)
        with ``body``, or answer 413 for a body over the limit (``None``); the status sent."""
        response: FetchResponse
        if body is None:
            response = payload_too_large(self.worker.max_request_body_bytes)
        else:
            incoming = (
                Request._received(method, url, Headers._valid(pairs), body)
                if pairs is not None
                else _incoming(method, url, headers, body)
            )
            if isinstance(incoming, Request):
                response = await self._dispatch(incoming)
            else:
                response = incoming
        return await _respond(send, method, response)


async def _respond(send: Send, method: str, response: FetchResponse, close: bool = False) -> int:
    headers, payload = _framed(method, response)
    if close:
        headers.append((b"connection", b"close"))
    status = response.status
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
    return status


def asgi_app(
    worker: Worker,
    *,
    dispatch: Dispatch | None = None,
    test_scheduled: bool = False,
    trust_forwarded: bool = False,
    body_timeout: float | None = None,
) -> WorkerASGIApp:
    """An ASGI application serving ``worker`` (give it to uvicorn or any ASGI server)."""
    return WorkerASGIApp(
        worker,
        dispatch=dispatch,
        test_scheduled=test_scheduled,
        trust_forwarded=trust_forwarded,
        body_timeout=body_timeout,
    )


class _DisconnectedError(Exception):
    """The ASGI client disconnected before sending the whole request body."""


#: An ASGI 3 application.
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def with_body_timeout(app: ASGIApp, clock: Clock, seconds: float) -> ASGIApp:
    """``app`` with a deadline, on ``clock``, for each message of an HTTP request body.

    When a ``receive()`` waits longer than ``seconds``, the request is cancelled where it
    waits and, unless ``app`` already started its response, answered ``408 Request
    Timeout`` with ``connection: close``. ``cfemu dev`` wraps everything it serves (the
    Worker and the REST API) in it.
    """

    async def timed_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        expired = False
        started = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        async def timed_receive() -> Message:
            timer = clock.call_later(seconds, expire)
            try:
                return await receive()
            finally:
                timer.cancel()

        def tracked_send(message: Message) -> Awaitable[None]:
            # A plain function handing back send's awaitable: no coroutine of its own per
            # message (an ASGI app awaits what send returns).
            nonlocal started
            started = started or message["type"] == "http.response.start"
            return send(message)

        try:
            await app(scope, timed_receive, tracked_send)
        except asyncio.CancelledError:
            if not expired or task.uncancel() > 0:
                raise  # a cancellation of cfemu's own (shutdown), not the deadline
            if not started:
                stalled = Response("408 Request Timeout: the request body stalled", 408)
                await _respond(send, scope.get("method", "GET"), stalled, close=True)

    return timed_app


async def _asgi_body(receive: Receive) -> Any:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _DisconnectedError
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
