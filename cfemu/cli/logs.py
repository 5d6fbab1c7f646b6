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
from typing import Any, TextIO

from cfemu._log import REQUESTS

__all__ = ["LOG_LEVELS", "DevLogFormatter", "log_requests", "setup_logging", "use_colour"]

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
        if not self.colour:
            return f"[cfemu:{tag}] {message}"
        status = getattr(record, "status", None)
        if isinstance(status, int):
            code = (
                "32" if status < 300 else "36" if status < 400 else "33" if status < 500 else "31"
            )
            message = message.replace(f" {status} ", f" \x1b[{code}m{status}\x1b[0m ", 1)
        return f"\x1b[{_COLOURS[tag]}m[cfemu:{tag}]\x1b[0m {message}"


def setup_logging(
    level: str, stream: TextIO | None = None, colour: bool | None = None
) -> Callable[[], None]:
    """Send cfemu's loggers (and the Workers' ``console``) to ``stream`` at ``level``.

    Returns a function that puts the previous logging setup back.
    """
    from cfemu.runtime.js_module import globals as js_globals

    out = stream if stream is not None else sys.stdout
    handler = logging.StreamHandler(out)
    handler.setFormatter(DevLogFormatter(colour=use_colour(out) if colour is None else colour))
    root = logging.getLogger("cfemu")
    saved = (root.level, root.propagate, js_globals.console_threshold)
    root.addHandler(handler)
    root.setLevel(LOG_LEVELS[level])
    root.propagate = False
    js_globals.console_threshold = LOG_LEVELS[level]

    def restore() -> None:
        root.removeHandler(handler)
        root.level, root.propagate, js_globals.console_threshold = saved

    return restore


def log_requests(app: Any) -> Any:
    """Wrap an ASGI app: one ``GET /path 200 OK (12ms)`` line per HTTP request."""
    from http import HTTPStatus

    phrases = {status.value: status.phrase for status in HTTPStatus}

    async def logged(scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not REQUESTS.isEnabledFor(logging.INFO):
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Any) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 500))
            await send(message)

        try:
            await app(scope, receive, capture)
        finally:
            phrase = phrases.get(status, "")
            path = scope.get("path", "/")
            query = scope.get("query_string", b"")
            if query:
                path += "?" + query.decode("latin-1")
            ms = round((time.perf_counter() - started) * 1000)
            # REQUESTS.info(...) without its search of the stack for the caller (the
            # line's format shows no source location): one record per request is hot.
            REQUESTS.handle(
                REQUESTS.makeRecord(
                    REQUESTS.name,
                    logging.INFO,
                    __file__,
                    0,
                    "%s %s %d %s (%dms)",
                    (scope.get("method", "GET"), path, status, phrase, ms),
                    None,
                    extra={"status": status},
                )
            )

    return logged
