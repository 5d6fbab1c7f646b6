"""The HTTP server options of ``cfemu dev``: forwarding trust and read timeouts.

uvicorn runs the server and hands each connection to cfemu's own HTTP/1.1 protocol
(:mod:`cfemu.cli._http_protocol`, on httptools). Besides answering a request in one write,
it closes a connection whose request headers are not complete within ``--header-timeout``
seconds (answering ``408 Request Timeout`` when part of a request had arrived): uvicorn's
own protocol waits forever for a client that connects and never finishes its headers, so a
few hundred slow sockets could hold ``cfemu dev`` open. The ASGI app gets a
``--body-timeout`` between two chunks of a request body. Cloudflare's own edge timeouts are
not published; these defaults are cfemu's choice.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from cfemu.errors import ConfigError

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
    """cfemu's HTTP/1.1 protocol (:mod:`cfemu.cli._http_protocol`): httptools parsing, one
    write per response, a request's headers due within ``header_timeout`` seconds.

    ``benchmarks/bench_http.py`` measures it against a bare app on uvicorn's own httptools
    protocol.
    """
    from cfemu.cli._http_protocol import protocol_class

    return protocol_class(header_timeout)
