"""``cfemu dev``'s log output: wrangler's levels, one line per invocation, colour on a TTY.

Levels, from quietest: ``none``, ``error``, ``warn``, ``info``, ``log`` (the default, as in
wrangler) and ``debug``. Request, queue-batch and cron lines are ``info``; a Worker's
``console.log`` is ``log``; ``console.debug`` is ``debug``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TextIO

from cfemu._log import REQUESTS

__all__ = [
    "LOG_LEVELS",
    "DevLogFormatter",
    "DevLogHandler",
    "log_request",
    "log_requests",
    "setup_logging",
    "use_colour",
]

#: wrangler's level names → Python logging levels (``log`` sits between debug and info).
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "log": 15,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "none": logging.CRITICAL + 10,
}

_TAGS = {logging.DEBUG: "dbg", 15: "log", logging.INFO: "inf", logging.WARNING: "wrn"}
_COLOURS = {"dbg": "2", "log": "0", "inf": "36", "wrn": "33", "err": "31"}


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never with ``NO_COLOR`` set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class DevLogFormatter(logging.Formatter):
    """``[cfemu:inf] GET / 200 OK (3ms)``; with colour, the tag and status are coloured."""

    def __init__(self, *, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        tag = _TAGS.get(record.levelno, "err" if record.levelno >= logging.ERROR else "inf")
        message = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR:
            message += "\n" + self.formatException(record.exc_info)
        return self.line(tag, message, getattr(record, "status", None))

    def line(self, tag: str, message: str, status: object = None) -> str:
        """The formatted line (without its newline) for ``message`` at level ``tag``."""
        if not self.colour:
            return f"[cfemu:{tag}] {message}"
        if isinstance(status, int):
            code = (
                "32" if status < 300 else "36" if status < 400 else "33" if status < 500 else "31"
            )
            message = message.replace(f" {status} ", f" \x1b[{code}m{status}\x1b[0m ", 1)
        return f"\x1b[{_COLOURS[tag]}m[cfemu:{tag}]\x1b[0m {message}"


class DevLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """``cfemu dev``'s handler: a stream handler that also takes request lines directly.

    :meth:`write_request` is what a request line costs when this handler is the only place
    ``cfemu.requests`` records go (see :func:`log_request`): the same line
    :class:`DevLogFormatter` makes, without a ``LogRecord``, kept until the event loop's
    next turn and then written and flushed together with every other line of that turn (one
    write to the stream, which is one system call when the stream is a terminal or
    unbuffered, instead of one per request). Every other record is written and flushed as by
    ``StreamHandler``, after the request lines taken before it, so the order of the output
    is the order of the calls.
    """

    def __init__(self, stream: TextIO, formatter: DevLogFormatter) -> None:
        super().__init__(stream)
        self.setFormatter(formatter)
        self.dev_formatter = formatter
        self._lines: list[str] = []  # request lines not written yet
        self._starts: dict[tuple[str, str, bytes, int], str] = {}  # see write_answered

    def write_request(self, message: str, status: int) -> None:
        """Take the request line ``message`` (``GET / 200 OK (3ms)``): written and flushed
        on the event loop's next turn (at once outside a running loop)."""
        self._take(self.dev_formatter.line("inf", message, status))

    def write_answered(self, method: str, path: str, query: bytes, status: int, ms: int) -> None:
        """:meth:`write_request` for the line of a request to ``path`` (and ``query``)
        answered ``status`` in ``ms`` milliseconds, its formatted start remembered for the
        next request like it (bounded): the same line for less work."""
        key = (method, path, query, status)
        start = self._starts.get(key)
        if start is None:
            target = f"{path}?{query.decode('latin-1')}" if query else path
            phrase = _PHRASES.get(status, "")
            # The line up to its duration: the formatter colours the status, which is in it.
            start = self.dev_formatter.line("inf", f"{method} {target} {status} {phrase} (", status)
            if len(self._starts) < _REMEMBERED_STARTS:
                self._starts[key] = start
        self._take(f"{start}{ms}ms)")

    def _take(self, line: str) -> None:
        lines = self._lines
        lines.append(line)
        if len(lines) > 1:
            return  # the turn's write is already due
        # A running loop means asyncio is loaded (`cfemu --help` loads none: no import here).
        asyncio = sys.modules.get("asyncio")
        loop = asyncio._get_running_loop() if asyncio is not None else None
        if loop is None:
            self.flush()
            return
        loop.call_soon(self._deferred_flush)

    def _write_lines(self) -> None:
        # Called with the lock held.
        lines = self._lines
        if lines:
            self._lines = []
            self.stream.write(self.terminator.join(lines) + self.terminator)

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` as ``StreamHandler`` does, after the request lines taken so far."""
        if self._lines:
            self.acquire()
            try:
                self._write_lines()
            finally:
                self.release()
        super().emit(record)

    def flush(self) -> None:
        """Write the request lines taken so far, then flush the stream."""
        self.acquire()
        try:
            self._write_lines()
            super().flush()
        finally:
            self.release()

    def close(self) -> None:
        """Write what is left, then close as ``StreamHandler`` does."""
        try:
            self.flush()
        except Exception:
            self.handleError(logging.makeLogRecord({"name": REQUESTS.name}))
        super().close()

    def _deferred_flush(self) -> None:
        # flush(), without its second lock (StreamHandler.flush's) and checks: once per turn.
        lock = self.lock
        assert lock is not None  # created by Handler.__init__
        lock.acquire()
        try:
            lines = self._lines
            if lines:
                self._lines = []
                stream = self.stream
                stream.write(self.terminator.join(lines) + self.terminator)
                stream.flush()
        except Exception:
            self.handleError(logging.makeLogRecord({"name": REQUESTS.name}))
        finally:
            lock.release()


def setup_logging(
    level: str, stream: TextIO | None = None, colour: bool | None = None
) -> Callable[[], None]:
    """Send cfemu's loggers (and the Workers' ``console``) to ``stream`` at ``level``.

    Returns a function that puts the previous logging setup back.
    """
    from cfemu.runtime.js_module import globals as js_globals

    out = stream if stream is not None else sys.stdout
    handler = DevLogHandler(
        out, DevLogFormatter(colour=use_colour(out) if colour is None else colour)
    )
    root = logging.getLogger("cfemu")
    saved = (root.level, root.propagate, js_globals.console_threshold)
    root.addHandler(handler)
    root.setLevel(LOG_LEVELS[level])
    root.propagate = False
    js_globals.console_threshold = LOG_LEVELS[level]

    def restore() -> None:
        try:
            handler.flush()  # the request lines of the last loop turn
        except Exception:
            handler.handleError(logging.makeLogRecord({"name": REQUESTS.name}))
        root.removeHandler(handler)
        root.level, root.propagate, js_globals.console_threshold = saved

    return restore


def _direct_handler() -> DevLogHandler | None:
    """The :class:`DevLogHandler` that alone receives ``cfemu.requests`` records, if so.

    That is the set-up :func:`setup_logging` makes: no handler or filter on
    ``cfemu.requests``, which propagates to ``cfemu``, whose one handler is a
    ``DevLogHandler`` without filters and which propagates no further. Anything else (a
    test's capture handler, a filter, logging configured otherwise) gets a ``LogRecord``.
    """
    if REQUESTS.handlers or REQUESTS.filters or not REQUESTS.propagate:
        return None
    parent = REQUESTS.parent
    if parent is None or parent.propagate or len(parent.handlers) != 1:
        return None
    handler = parent.handlers[0]
    if type(handler) is not DevLogHandler or handler.filters or handler.level > logging.INFO:
        return None
    return handler


def log_requests(app: Any) -> Any:
    """Wrap an ASGI app: one ``GET /path 200 OK (12ms)`` line per HTTP request."""

    async def logged(scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not REQUESTS.isEnabledFor(logging.INFO):
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        def capture(message: Any) -> Any:
            # A plain function handing back send's awaitable: no coroutine of its own per
            # message (an ASGI app awaits what send returns).
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 500))
            return send(message)

        try:
            await app(scope, receive, capture)
        finally:
            log_request(scope, status, started)

    return logged


def log_request(scope: Any, status: int, started: float) -> None:
    """Log the line of the HTTP request ``scope`` answered ``status``, begun at ``started``
    (a ``time.perf_counter()``): ``GET /path 200 OK (12ms)`` on ``cfemu.requests``."""
    ms = round((time.perf_counter() - started) * 1000)
    method = scope.get("method", "GET")
    path = scope.get("path", "/")
    query = scope.get("query_string", b"")
    direct = _direct_handler()
    if direct is not None:
        direct.write_answered(method, path, query, status, ms)
        return
    if query:
        path += "?" + query.decode("latin-1")
    phrase = _PHRASES.get(status, "")
    # REQUESTS.info(...) without its search of the stack for the caller (the line's format
    # shows no source location): one record per request is hot.
    REQUESTS.handle(
        REQUESTS.makeRecord(
            REQUESTS.name,
            logging.INFO,
            __file__,
            0,
            "%s %s %d %s (%dms)",
            (method, path, status, phrase, ms),
            None,
            extra={"status": status},
        )
    )


#: Request-line starts a DevLogHandler remembers (distinct method, path, query, status).
_REMEMBERED_STARTS = 256

#: Status code → reason phrase (``OK``, ``Not Found``...).
_PHRASES = {status.value: status.phrase for status in HTTPStatus}
