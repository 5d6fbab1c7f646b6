"""The HTTP server options of ``cfemu dev``: forwarding trust and read timeouts.

uvicorn on its own waits forever for a client that connects and never finishes its request
headers (it only times out idle keep-alive connections), so a few hundred slow sockets could
hold ``cfemu dev`` open indefinitely. ``cfemu dev`` serves with a subclass of uvicorn's
httptools protocol that closes a connection whose request headers are not complete within
``--header-timeout`` seconds (answering ``408 Request Timeout`` when part of a request had
arrived), and gives the ASGI app a ``--body-timeout`` between two chunks of a request body.
Cloudflare's own edge timeouts are not published; these defaults are cfemu's choice.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cfemu.errors import ConfigError

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "HttpOptions",
    "add_http_options",
    "http_options",
    "uvicorn_config",
]

#: Seconds a client has to send its complete request headers.
DEFAULT_HEADER_TIMEOUT = 10.0
#: Seconds a request body may stall between two chunks.
DEFAULT_BODY_TIMEOUT = 10.0

_TIMEOUT_408 = b"408 Request Timeout: the request headers took too long"


@dataclass(frozen=True)
class HttpOptions:
    """How ``cfemu dev`` serves HTTP: forwarding trust and read timeouts (seconds)."""

    trust_forwarded: bool = False
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT


def add_http_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--trust-forwarded``, ``--header-timeout`` and ``--body-timeout`` to ``parser``."""
    group = parser.add_argument_group("HTTP server")
    group.add_argument(
        "--trust-forwarded",
        action="store_true",
        help="let Forwarded / X-Forwarded-Proto / X-Forwarded-Host set request.url's scheme "
        "and host (only behind a proxy you control)",
    )
    group.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SECONDS",
        help="close a connection whose request headers are not complete by then (%(default)s)",
    )
    group.add_argument(
        "--body-timeout",
        type=float,
        default=DEFAULT_BODY_TIMEOUT,
        metavar="SECONDS",
        help="answer 408 when a request body stalls this long between chunks (%(default)s)",
    )


def http_options(args: argparse.Namespace) -> HttpOptions:
    """The options :func:`add_http_options` added, checked (a ConfigError if invalid)."""
    for option, value in (
        ("--header-timeout", args.header_timeout),
        ("--body-timeout", args.body_timeout),
    ):
        if not value > 0:
            raise ConfigError(f"{option}: must be a number of seconds above 0, got {value!r}")
    return HttpOptions(
        trust_forwarded=args.trust_forwarded,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
    )


def uvicorn_config(app: Any, *, host: str, port: int, options: HttpOptions) -> Any:
    """A ``uvicorn.Config`` serving ``app`` with ``options``' header timeout.

    uvicorn's own proxy-header handling is off: forwarding headers are cfemu's business
    (``trust_forwarded`` on the app), so a client cannot change ``scope["scheme"]``.
    """
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_level="warning",
        # cfemu writes its own request line (cfemu.cli.logs); uvicorn's access log would
        # only format arguments for a record its level drops, on every response.
        access_log=False,
        proxy_headers=False,
        http=_protocol(options.header_timeout),
    )


def _protocol(header_timeout: float) -> type[Any]:
    """uvicorn's httptools protocol, closing connections whose request headers are too slow.

    httptools (a C parser) serves 1.3-2x the requests per second of uvicorn's pure-Python
    h11 protocol; ``benchmarks/bench_http.py`` measures it.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        """An httptools protocol with a deadline for each request's headers.

        The deadline is a timestamp; one timer per connection checks it when it fires and
        re-arms for a deadline that moved meanwhile, so a request whose headers arrive in
        time costs a clock read, not a timer armed and cancelled.
        """

        _header_timer: asyncio.TimerHandle | None = None
        _header_deadline: float | None = None  # when the awaited headers are due, if any
        _in_headers = False  # a request's first bytes arrived, its headers are not complete

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()  # the first request's headers are due from accept

        def on_message_begin(self) -> None:
            HttpToolsProtocol.on_message_begin(self)  # not super(): called per request
            self._in_headers = True
            if self._header_deadline is None:  # the next request's headers start now
                # _arm(), inline: once per request
                deadline = self._header_deadline = self.loop.time() + header_timeout
                if self._header_timer is None:
                    self._header_timer = self.loop.call_at(deadline, self._expired)

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._header_deadline = None  # the timer, if armed, finds nothing due
            HttpToolsProtocol.on_headers_complete(self)

        def on_response_complete(self) -> None:
            HttpToolsProtocol.on_response_complete(self)
            if self._in_headers and self._header_deadline is None and not self._closing():
                self._arm()  # a pipelined request's headers arrived in part

        def connection_lost(self, exc: Exception | None) -> None:
            self._header_deadline = None
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().connection_lost(exc)

        def _closing(self) -> bool:
            return bool(self.transport.is_closing())

        def _responding(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _arm(self) -> None:
            deadline = self._header_deadline = self.loop.time() + header_timeout
            if self._header_timer is None:
                self._header_timer = self.loop.call_at(deadline, self._expired)

        def _expired(self) -> None:
            self._header_timer = None
            deadline = self._header_deadline
            if deadline is None:
                return  # the headers came in time
            if self.loop.time() < deadline:  # a later request's headers are due later
                self._header_timer = self.loop.call_at(deadline, self._expired)
                return
            self._header_deadline = None
            if self._closing() or self._responding():
                return  # re-armed when that response completes, if headers are still due
            if self._in_headers:
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                    % (len(_TIMEOUT_408), _TIMEOUT_408)
                )
            self.transport.close()

    return HeaderTimeoutProtocol
