"""One HTTP/1.1 request and its response on a ``cfemu dev`` connection: ASGI ``receive`` and
``send``, and the response head framed and checked (:mod:`cfemu.cli._http_protocol` serves
the connection).

A fixed-length response's head waits for its first body chunk and both go out in one write;
a chunked (streamed) response's head goes at once. A head is framed and checked (header
names as RFC 9110 tokens, no control character or stray CR/LF in a value) once per distinct
status, keep-alive, HEAD and header list (bounded cache).
"""

from __future__ import annotations

import http
import logging
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, MutableMapping

    from cfemu.cli._http_protocol import DevHttpProtocol

    Message = MutableMapping[str, Any]

__all__ = ["Exchange", "error_headers", "log", "status_line"]

log = logging.getLogger("cfemu.http")

#: Bodies at least this long are written after their head, not copied into one buffer.
_COPY_LIMIT = 16384
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_LAST_CHUNK = b"0\r\n\r\n"

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110 §5.6.2)
# Any control character but TAB, or a CR or LF that is not part of a CRLF pair: a header
# value holding one could split the head. CRLF pairs are counted separately.
_BAD_HEAD = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n")
_valid_names: set[bytes] = set()  # response header names seen valid
_status_lines: dict[int, bytes] = {}
# Response heads by status, keep-alive, HEAD and header pairs: what _frame made of them.
_heads: dict[tuple[Any, ...], tuple[bytes, int, bool, bool, frozenset[bytes]]] = {}
#: The server's default headers a response may set itself (then sent once, its own).
_DEFAULTS = frozenset((b"date", b"server"))
_NONE: frozenset[bytes] = frozenset()
_CACHED_HEADS = 256


def status_line(status: int) -> bytes:
    """``HTTP/1.1 <status> <phrase>`` and its CRLF (remembered per status)."""
    line = _status_lines.get(status)
    if line is None:
        if not isinstance(status, int) or not 100 <= status <= 999:
            raise RuntimeError(f"Invalid HTTP status code {status!r} in response.")
        try:
            phrase = http.HTTPStatus(status).phrase.encode()
        except ValueError:
            phrase = b""
        line = _status_lines[status] = b"HTTP/1.1 %d %s\r\n" % (status, phrase)
    return line


def _check_names(headers: list[tuple[bytes, bytes]]) -> None:
    for name, _value in headers:
        if name not in _valid_names:
            if _TOKEN.fullmatch(name) is None:
                raise RuntimeError(f"Invalid HTTP header name {name!r} in response.")
            if len(_valid_names) < 1024:
                _valid_names.add(name)


class Exchange:
    """One request on a connection and the response the app gives it (ASGI receive/send)."""

    __slots__ = (
        "body",
        "chunked",
        "complete",
        "conn",
        "delivered",
        "disconnected",
        "expect_100",
        "head",
        "head_only",
        "keep_alive",
        "more_body",
        "remaining",
        "scope",
        "started",
        "task",
        "waiter",
    )

    def __init__(
        self, conn: DevHttpProtocol, scope: dict[str, Any], keep_alive: bool, expect_100: bool
    ) -> None:
        self.conn = conn
        self.scope: dict[str, Any] | None = scope  # handed to the app (then dropped: see run)
        self.keep_alive = keep_alive
        self.expect_100 = expect_100
        self.head_only = scope["method"] == "HEAD"
        self.body = b""
        self.more_body = True
        self.delivered = False  # the last of the body was handed to receive()
        self.disconnected = False
        self.started = False
        self.complete = False
        self.chunked = False
        self.remaining = 0  # content-length still owed
        self.head: bytes | None = None  # a head waiting for the first body chunk
        self.waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self, app: Callable[..., Awaitable[None]]) -> None:
        conn = self.conn
        # The scope offers self.respond: not kept here too, or each request would be a
        # reference cycle left for the garbage collector.
        scope, self.scope = self.scope, None
        try:
            await app(scope, self.receive, self.send)
        except Exception:
            log.exception("Exception in ASGI application")
            if not self.started or self.head is not None:  # nothing written yet
                if not self.disconnected:
                    self.keep_alive = False
                    self._write_500()
                    self._finish()
            elif not self.complete:
                conn.transport.close()
        except BaseException:
            if not self.complete:
                conn.transport.close()
            raise
        else:
            if not self.started or self.head is not None:
                if not self.disconnected:
                    log.error("ASGI callable returned without sending a response.")
                    self.keep_alive = False
                    self._write_500()
                    self._finish()
            elif not self.complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                conn.transport.close()
        finally:
            conn.tasks.discard(self.task)

    def _write_500(self) -> None:
        transport = self.conn.transport
        if not transport.is_closing():
            transport.write(status_line(500) + error_headers(b"Internal Server Error"))

    async def receive(self) -> Message:
        """The next ASGI ``http.request`` message, or ``http.disconnect``."""
        if self.expect_100:
            self.expect_100 = False
            if not self.conn.transport.is_closing():
                self.conn.transport.write(_CONTINUE)
        while not (self.disconnected or self.complete):
            body = self.body
            if body or not (self.more_body or self.delivered):
                self.body = b""
                more = self.more_body
                if not more:
                    self.delivered = True
                else:
                    self.conn.resume_reading()
                return {"type": "http.request", "body": body, "more_body": more}
            self.conn.resume_reading()
            self.waiter = self.conn.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        """Write an ASGI ``http.response.start`` or ``http.response.body`` message."""
        conn = self.conn
        if conn.write_paused and not self.disconnected:
            await conn.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', got {kind!r}.")
            head = self._head(message["status"], message.get("headers", ()))
            self.started = True
            self.expect_100 = False
            if self.chunked:  # a stream: its head goes now, its chunks as they come
                conn.transport.write(head)
            else:
                self.head = head
            return
        if self.complete:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} after the response completed.")
        if kind != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', got {kind!r}.")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self.head_only:
            data = b""
        elif self.chunked:
            data = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            if not more:
                data += _LAST_CHUNK
        else:
            size = len(body)
            if size > self.remaining:
                raise RuntimeError("Response content longer than Content-Length")
            self.remaining -= size
            data = body
        pending = self.head
        transport = conn.transport
        if pending is not None:
            self.head = None
            if len(data) < _COPY_LIMIT:
                transport.write(pending + data)
            else:
                transport.write(pending)
                transport.write(data)
        elif data:
            transport.write(data)
        if not more:
            if self.remaining and not self.head_only:
                raise RuntimeError("Response content shorter than Content-Length")
            self._finish()

    def respond(self, status: int, headers: Any, body: bytes) -> bool:
        """Write a whole response (``headers`` giving its ``content-length``) in one go, as
        ``http.response.start`` and a last ``http.response.body`` would; ``False`` (nothing
        done) when it cannot be written at once (the transport is paused, the client left,
        the response started): the caller sends it as ASGI messages instead."""
        conn = self.conn
        if self.started or conn.write_paused or self.disconnected:
            return False
        head = self._head(status, headers)
        if self.chunked or (len(body) != self.remaining and not self.head_only):
            return False  # not a fixed-length response of this body: send() says what is wrong
        self.started = True
        self.expect_100 = False
        transport = conn.transport
        if self.head_only:
            transport.write(head)
        elif len(body) < _COPY_LIMIT:
            transport.write(head + body)
        else:
            transport.write(head)
            transport.write(body)
        self.remaining = 0
        self._finish()
        return True

    def _finish(self) -> None:
        self.complete = True
        self.wake()
        if not self.keep_alive:
            self.conn.transport.close()
        self.conn.response_complete(self)

    def _head(self, status: int, headers: Any) -> bytes:
        """The response head (status line, headers, blank line); sets the framing."""
        keep_alive, head_only = self.keep_alive, self.head_only
        key: tuple[Any, ...] | None = (status, keep_alive, head_only, *headers)
        try:
            framed = _heads.get(key)  # type: ignore[arg-type]
        except TypeError:  # header pairs that are not tuples of bytes
            key = framed = None
        if framed is None:
            framed = _frame(status, list(headers), keep_alive, head_only)
            if key is not None and len(_heads) < _CACHED_HEADS:
                _heads[key] = framed
        head, self.remaining, self.chunked, self.keep_alive, own = framed
        return head + self.conn.default_head(own)


def _frame(
    status: int, headers: list[tuple[bytes, bytes]], keep_alive: bool, head_only: bool
) -> tuple[bytes, int, bool, bool, frozenset[bytes]]:
    """A response head but the server's default headers and the blank line after them, the
    content-length owed, whether the body is chunked, whether the connection stays open, and
    which of the server's default headers (``date``, ``server``) the response sets itself."""
    _check_names(headers)
    parts = [status_line(status)]
    lines = 1 + len(headers)  # the CRLFs of the status line and each header
    length: bytes | None = None
    chunked = False
    own = _NONE
    for name, value in headers:
        name = name.lower()
        if name in _DEFAULTS:
            own = own | {name}
        elif name == b"content-length":
            if length is None and not chunked:
                length = value
        elif name == b"transfer-encoding":
            if value.lower() == b"chunked":
                chunked = True
                length = None
        elif name == b"connection" and b"close" in [
            token.strip() for token in value.lower().split(b",")
        ]:
            keep_alive = False
        parts += (name, b": ", value, b"\r\n")
    remaining = 0
    if length is not None:
        try:
            remaining = int(length)
        except ValueError:
            remaining = -1
        if remaining < 0:
            raise RuntimeError(f"Invalid Content-Length {length!r} in response.")
    elif not chunked and not head_only and status not in (204, 304) and status >= 200:
        chunked = True
        parts.append(b"transfer-encoding: chunked\r\n")
        lines += 1
    if not keep_alive:
        parts.append(b"connection: close\r\n")
        lines += 1
    head = b"".join(parts)
    # Every CR and LF of the head must be one of the CRLFs written above.
    if _BAD_HEAD.search(head) is not None or head.count(b"\r\n") != lines:
        raise RuntimeError("Invalid HTTP header value in response.")
    return head, remaining, chunked and not head_only, keep_alive, own


def error_headers(text: bytes) -> bytes:
    """The headers and body of a plain-text error answer that closes the connection."""
    return (
        b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n%s" % (len(text), text)
    )
