"""``cfemu dev``'s HTTP/1.1 connections: httptools parsing, ASGI 3, one write per response.

uvicorn still runs the server (sockets, start-up, signals, graceful shutdown) and hands each
accepted connection to :class:`DevHttpProtocol`, which parses requests with httptools (the
C parser uvicorn's fastest protocol uses too) and serves them to the ASGI app. Compared with
uvicorn's own httptools protocol it:

- writes a fixed-length response's head together with its first body chunk, so the usual
  response is one ``send`` system call, not two;
- keeps one timer per connection for both of its timeouts (a request's headers due within
  ``header_timeout``: ``408`` when part of them came; an idle keep-alive connection closed
  after ``config.timeout_keep_alive``), re-armed only when it fires: a request costs a clock
  read, not a timer armed and cancelled;
- checks a response head's header names once per distinct name and its values in one pass
  over the whole head instead of two regular expressions per header.

What it keeps from HTTP/1.1 and ASGI: keep-alive (HTTP/1.0 closes unless it asks),
pipelined requests answered in order (reading pauses while one waits), request bodies
streamed to ``receive()`` with reading paused above 64 KiB buffered, ``Expect:
100-continue``, ``http.disconnect`` when the client leaves, chunked responses when the app
gives no ``content-length``, HEAD without a body, ``connection: close`` honoured both ways,
the server's ``date``/``server`` headers, write back-pressure (``send`` waits while the
transport is over its high-water mark), ``400`` for a request httptools cannot parse,
``500`` when the app fails before answering (an invalid response head included). A request
asking for an ``Upgrade`` (a WebSocket handshake) reaches the app as an ordinary request, as
it reaches a Worker's ``fetch`` on Cloudflare; cfemu does not emulate WebSockets, so the
connection closes after its response.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import suppress
from typing import Any
from urllib.parse import unquote

import httptools

from cfemu.cli._http_exchange import Exchange, error_headers, log, status_line
from cfemu.runtime._wire import RESPOND

__all__ = ["DevHttpProtocol"]

#: Request body bytes buffered before reading from the client pauses.
HIGH_WATER = 65536

_ASGI = {"version": "3.0", "spec_version": "2.3"}  # every scope's (no app here changes it)
_TIMEOUT_408 = b"408 Request Timeout: the request headers took too long"
_INVALID_400 = b"Invalid HTTP request received."
_methods: dict[bytes, str] = {}
_targets: dict[bytes, tuple[str, bytes, bytes]] = {}  # request-target: path, raw path, query
_CACHED_TARGETS = 256


def _target(url: bytes) -> tuple[str, bytes, bytes]:
    """The ASGI ``path``, ``raw_path`` and ``query_string`` of a request-target."""
    found = _targets.get(url)
    if found is None:
        parsed = httptools.parse_url(url)
        raw = parsed.path or b"/"
        path = raw.decode("ascii")
        if "%" in path:
            path = unquote(path)
        found = (path, raw, parsed.query or b"")
        if len(_targets) < _CACHED_TARGETS:
            _targets[url] = found
    return found


class DevHttpProtocol(asyncio.Protocol):
    """An HTTP/1.1 connection served to ``config``'s ASGI app (uvicorn's protocol interface).

    ``header_timeout`` is set per server by :func:`protocol_class`.
    """

    header_timeout = 10.0

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        self.loop = loop = _loop or asyncio.get_event_loop()
        # The loop's clock; asyncio's own is time.monotonic, read without a method call.
        self._time = time.monotonic if type(loop).time is asyncio.BaseEventLoop.time else loop.time
        self.server_state = server_state
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.keep_alive_timeout = float(config.timeout_keep_alive)
        self.parser = httptools.HttpRequestParser(self)
        # Answer the first of pipelined requests followed by garbage (httptools >= 0.6.3).
        with suppress(AttributeError):
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        self.pipeline: deque[Exchange] = deque()
        self.exchange: Exchange | None = None  # the one being answered
        self.parsing: Exchange | None = None  # the one whose body is being read
        self.read_paused = False
        self.write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect_100 = False
        self._invalid = False  # unparsable bytes came after requests still to answer
        # One timer for both timeouts: it checks the deadline when it fires.
        self._deadline: float | None = None
        self._in_headers = False  # a request's first bytes came, its headers are not complete
        self._idle = False  # the deadline is the keep-alive one, not a request's headers'
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # when the timer fires
        self._default_list: Any = None
        self._default_head = b"\r\n"

    # -- the server's default headers (date, server), re-joined when uvicorn renews them
    def default_head(self, own: frozenset[bytes] = frozenset()) -> bytes:
        """The server's default response headers as head lines, and the blank line; those
        named in ``own`` (the response's own ``date`` or ``server``) are left out: a field
        like ``Date`` is sent once (RFC 9110 §6.6.1), the Worker's, as workerd sends it."""
        current = self.server_state.default_headers
        if current is not self._default_list:
            self._default_list = current
            lines = [b"%s: %s\r\n" % (name, value) for name, value in current]
            self._default_head = b"".join(lines) + b"\r\n"
        if not own:
            return self._default_head
        lines = [b"%s: %s\r\n" % (name, value) for name, value in current if name not in own]
        return b"".join(lines) + b"\r\n"

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connections.add(self)
        self.transport = transport  # type: ignore[assignment]
        server = transport.get_extra_info("sockname")
        client = transport.get_extra_info("peername")
        self.server = tuple(server[:2]) if isinstance(server, tuple) else None
        self.client = tuple(client[:2]) if isinstance(client, tuple) else None
        if transport.get_extra_info("sslcontext") is not None:
            self.scheme = "https"
        self._arm(self.header_timeout)  # the first request's headers are due from accept

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for exchange in (self.exchange, self.parsing, *self.pipeline):
            if exchange is not None and not exchange.complete:
                exchange.disconnected = True
                exchange.wake()
        self.resume_writing()
        if exc is None:
            self.transport.close()
        self.parser = None  # type: ignore[assignment]

    def eof_received(self) -> None:
        return None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # answered as an ordinary request, then the connection closes
        except httptools.HttpParserError:
            log.warning("Invalid HTTP request received.")
            exchange = self.exchange
            if self.pipeline or (exchange is not None and not exchange.complete):
                # The requests before it are answered first; then the 400, then close.
                self._invalid = True
                self.pause_reading()
            else:
                self._refuse(status_line(400), _INVALID_400)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drained = self._drained
        if drained is not None:
            self._drained = None
            if not drained.done():
                drained.set_result(None)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its low-water mark."""
        if self.write_paused:
            if self._drained is None:
                self._drained = self.loop.create_future()
            await asyncio.shield(self._drained)

    def pause_reading(self) -> None:
        """Stop reading from the client (a body buffered, or a pipelined request waiting)."""
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the client again."""
        if self.read_paused:
            self.read_paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._expect_100 = False
        self._in_headers = True
        if self._deadline is None or self._idle:  # this request's headers are due from now
            # _arm(), inline: once per request
            self._idle = False
            deadline = self._deadline = self._time() + self.header_timeout
            if self._timer is None or deadline < self._timer_at:
                self._rearm(deadline)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace (RFC 9110 §5.5)
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect_100 = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._deadline = None  # the timer, if armed, finds nothing due
        parser = self.parser
        raw_method = parser.get_method()
        method = _methods.get(raw_method)
        if method is None:
            method = _methods.setdefault(raw_method, raw_method.decode("ascii"))
        version = parser.get_http_version()
        headers = self._headers
        path, raw_path, query = _target(self._url)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": method,
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
            "headers": headers,
        }
        # An Upgrade request (a WebSocket handshake, h2c) reaches the app as an ordinary
        # request (cfemu does not emulate WebSockets); the connection closes after it,
        # since what the client sends next would be in the protocol it asked for.
        keep_alive = version != "1.0" and parser.should_keep_alive() and not parser.should_upgrade()
        exchange = Exchange(self, scope, keep_alive, self._expect_100)
        # An app of cfemu's may write a whole fixed-length response without ASGI messages
        # (cfemu.runtime.transport's RESPOND); any other app just sees one more scope key.
        scope[RESPOND] = exchange.respond
        self.parsing = exchange
        current = self.exchange
        if current is None or current.complete:
            self._start(exchange)
        else:  # pipelined: answered when the one before is
            self.pipeline.append(exchange)
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        exchange = self.parsing
        if exchange is None or exchange.complete:
            return
        exchange.body += body
        if len(exchange.body) > HIGH_WATER:
            self.pause_reading()
        exchange.wake()

    def on_message_complete(self) -> None:
        exchange = self.parsing
        if exchange is None or exchange.complete:
            return
        exchange.more_body = False
        exchange.wake()

    # -- requests and responses
    def _start(self, exchange: Exchange) -> None:
        self.exchange = exchange
        task = exchange.task = self.loop.create_task(exchange.run(self.app))
        self.tasks.add(task)

    def response_complete(self, exchange: Exchange) -> None:
        """``exchange``'s response is written: start the next pipelined request, if any."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if self.read_paused:
            self.resume_reading()
        if self.pipeline:
            self._start(self.pipeline.popleft())
        elif self._invalid:  # what came after the requests answered could not be parsed
            self._refuse(status_line(400), _INVALID_400)
        elif self._in_headers:  # the next request's headers arrived in part meanwhile
            self._arm(self.header_timeout)
        else:  # idle until the next request: _arm(keep-alive), inline
            deadline = self._deadline = self._time() + self.keep_alive_timeout
            self._idle = True
            if self._timer is None or deadline < self._timer_at:
                self._rearm(deadline)

    def shutdown(self) -> None:
        """Close when the response in progress, if any, is written (graceful shutdown)."""
        exchange = self.exchange
        if exchange is None or exchange.complete:
            self.transport.close()
        else:
            exchange.keep_alive = False
            for waiting in self.pipeline:
                waiting.keep_alive = False

    # -- timeouts
    def _arm(self, seconds: float) -> None:
        """Make the deadline ``seconds`` from now; the timer fires by then."""
        self._idle = False
        deadline = self._deadline = self._time() + seconds
        if self._timer is None or deadline < self._timer_at:  # else it fires first, re-arms
            self._rearm(deadline)

    def _rearm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._expired)

    def _expired(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return  # a request came in time; the timer is armed again when needed
        if self._time() < deadline:  # moved later meanwhile
            self._timer_at = deadline
            self._timer = self.loop.call_at(deadline, self._expired)
            return
        self._deadline = None
        exchange = self.exchange
        if self.transport.is_closing() or (exchange is not None and not exchange.complete):
            return  # re-armed when that response completes, if headers are still due
        if self._in_headers:
            self._refuse(status_line(408), _TIMEOUT_408)
        else:
            self.transport.close()

    def _refuse(self, status_line: bytes, text: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(status_line + error_headers(text))
            self.transport.close()


def protocol_class(header_timeout: float) -> type[DevHttpProtocol]:
    """:class:`DevHttpProtocol` with ``header_timeout`` seconds for a request's headers."""
    return type("DevHttpProtocol", (DevHttpProtocol,), {"header_timeout": header_timeout})
