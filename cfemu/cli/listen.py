"""Where ``cfemu dev`` listens: ``[dev]`` settings, overridden by flags, bound up front.

wrangler reads ``[dev] ip``, ``port`` and ``local_protocol`` from the config, and its flags
``--ip``, ``--port``, ``--local-protocol``, ``--https-key-path`` and ``--https-cert-path``
override them. cfemu binds the socket itself before loading any Worker, so a port in use is
one line and exit status 1, not a traceback from inside uvicorn.
"""

from __future__ import annotations

import argparse
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfemu.errors import CfemuError, ConfigError

__all__ = ["ListenSettings", "add_listen_options", "bind", "resolve_listen"]


@dataclass(frozen=True)
class ListenSettings:
    """The address, port and protocol ``cfemu dev`` serves on."""

    ip: str
    port: int
    protocol: str = "http"
    cert_file: Path | None = None
    key_file: Path | None = None

    def url(self, port: int | None = None) -> str:
        """``http://127.0.0.1:8787`` (with the port actually bound, when given)."""
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.protocol}://{host}:{self.port if port is None else port}"


def add_listen_options(p: argparse.ArgumentParser) -> None:
    """``--ip``, ``--port``, ``--local-protocol`` and the HTTPS certificate options."""
    p.add_argument("--ip", help="address to listen on (default: [dev] ip, else 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: [dev] port, else 8787)")
    p.add_argument(
        "--local-protocol",
        choices=("http", "https"),
        help="serve http or https (default: [dev] local_protocol, else http)",
    )
    p.add_argument("--https-key-path", type=Path, help="private key for --local-protocol https")
    p.add_argument("--https-cert-path", type=Path, help="certificate for --local-protocol https")


def resolve_listen(args: argparse.Namespace, dev: Any) -> ListenSettings:
    """Flags first, then the primary Worker's ``[dev]`` table (``dev``), then the defaults."""
    ip = args.ip if args.ip is not None else dev.ip
    port = args.port if args.port is not None else dev.port
    protocol = args.local_protocol or dev.local_protocol
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
    cert, key = args.https_cert_path, args.https_key_path
    if protocol == "https" and (cert is None or key is None):
        # wrangler generates a self-signed certificate; cfemu downloads and generates nothing.
        raise ConfigError(
            "local_protocol https needs a certificate: pass --https-cert-path and "
            "--https-key-path (e.g. made with mkcert or openssl)"
        )
    if protocol == "http" and (cert is not None or key is not None):
        raise ConfigError("--https-cert-path and --https-key-path need --local-protocol https")
    for option, path in (("--https-cert-path", cert), ("--https-key-path", key)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{option}: {path} does not exist")
    return ListenSettings(ip, port, protocol, cert, key)


def bind(settings: ListenSettings) -> socket.socket:
    """A socket bound to the address; one clear :class:`CfemuError` when that fails."""
    family = socket.AF_INET6 if ":" in settings.ip else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # they are TCP, and accepted connections inherit the listener's protocol. With 0, a
    # response's headers and body leave in two writes ~40 ms apart (Nagle + delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.ip, settings.port))
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        hint = " (is another cfemu dev or wrangler dev running? pick one with --port)"
        raise CfemuError(
            f"cannot listen on {settings.ip}:{settings.port}: {reason.lower()}"
            + (hint if exc.errno in (98, 48, 10048) else "")
        ) from None
    sock.set_inheritable(True)
    return sock
