"""What a front end checks before a request reaches a Worker, and the ``request.url`` it makes.

Cloudflare's edge answers 400 to a request whose ``Host`` is missing where required, repeated
or not a host name, and never lets a header rewrite the path: the Worker's ``request.url`` is
the scheme, the validated host and the request target, nothing else. Forwarding headers
(``Forwarded``, ``X-Forwarded-Proto``, ``X-Forwarded-Host``) only matter when the server is
told to trust them (``cfemu dev --trust-forwarded``), e.g. behind a local TLS proxy; by
default they reach the Worker as ordinary headers and change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["BadRequestError", "parse_host", "request_url"]

# RFC 3986 reg-name without percent-encoding (no "/", "?", "#", "@", "\\" or spaces), or an
# IPv6 literal; then an optional port. Anything else in Host is a 400.
_HOST = re.compile(
    r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=]+)(?::(?P<port>[0-9]{1,5}))?"
)
_ABSOLUTE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class BadRequestError(ValueError):
    """A request a front end refuses with ``400 Bad Request``; the message says why."""


def parse_host(value: str, scheme: str = "http") -> str:
    """``value`` as a URL authority: the host lowercased, the scheme's default port dropped.

    Raises :class:`BadRequestError` unless ``value`` is a host name or IP literal with an
    optional port in 1-65535.
    """
    return _parse_host(value, scheme)


@lru_cache(maxsize=256)  # the same few Host values arrive on every request
def _parse_host(value: str, scheme: str) -> str:
    match = _HOST.fullmatch(value)
    if match is None:
        raise BadRequestError(f"invalid Host {value!r}")
    name, port = match["name"].lower(), match["port"]
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return name
    if not 0 < int(port) <= 65535:
        raise BadRequestError(f"invalid port in Host {value!r}")
    return f"{name}:{int(port)}"


def _first(value: str) -> str:
    return value.split(",", 1)[0].strip()


def _forwarded(value: str) -> dict[str, str]:
    """The parameters of the first element of a ``Forwarded`` header (RFC 7239)."""
    params: dict[str, str] = {}
    for pair in _first(value).split(";"):
        key, sep, raw = pair.partition("=")
        if sep:
            params[key.strip().lower()] = raw.strip().strip('"')
    return params


def request_url(
    scheme: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    *,
    default_host: str,
    trust_forwarded: bool = False,
) -> str:
    """The URL a Worker sees for a request received over ``scheme`` for ``target``.

    ``target`` is the request target as received (``/path?query``, or the absolute form
    ``http://host/path``, whose authority then wins over ``Host``). ``default_host`` is used
    when the request has no ``Host`` (HTTP/1.0). With ``trust_forwarded``, ``Forwarded``'s
    ``proto``/``host`` (else ``X-Forwarded-Proto``/``X-Forwarded-Host``) replace the scheme
    and host. Raises :class:`BadRequestError` for what a front end answers 400 to.
    """
    hosts: list[str] = []
    forwarded: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key == "host":
            hosts.append(value.strip(" \t"))  # optional whitespace around a field
        elif trust_forwarded and key in ("forwarded", "x-forwarded-proto", "x-forwarded-host"):
            forwarded.setdefault(key, value)
    if len(hosts) > 1:
        raise BadRequestError("more than one Host header")
    authority = parse_host(hosts[0] if hosts else default_host, scheme)
    if target.startswith("/"):
        path = target
    else:
        absolute = _ABSOLUTE.fullmatch(target)
        if absolute is None:
            raise BadRequestError(f"invalid request target {target!r}")
        authority = parse_host(absolute["authority"], scheme)
        path = absolute["rest"] or "/"
        if not path.startswith(("/", "?")):
            raise BadRequestError(f"invalid request target {target!r}")
        if path.startswith("?"):
            path = "/" + path
    if trust_forwarded:
        scheme, authority = _apply_forwarded(scheme, authority, forwarded)
    return f"{scheme}://{authority}{path}"


def _apply_forwarded(scheme: str, authority: str, found: dict[str, str]) -> tuple[str, str]:
    if "forwarded" in found:
        params = _forwarded(found["forwarded"])
        proto, host = params.get("proto"), params.get("host")
    else:
        proto = _first(found["x-forwarded-proto"]) if "x-forwarded-proto" in found else None
        host = _first(found["x-forwarded-host"]) if "x-forwarded-host" in found else None
    if proto is not None:
        proto = proto.lower()
        if proto not in _DEFAULT_PORTS:
            raise BadRequestError(f"invalid forwarded protocol {proto!r}")
        scheme = proto
    if host is not None:
        authority = parse_host(host, scheme)
    return scheme, authority
