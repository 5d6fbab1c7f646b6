"""The lean path of an ASGI request into a Worker (:class:`~cfemu.runtime.transport.WorkerASGIApp`).

Most requests carry the same few header pairs (Host, User-Agent, Accept...) and a target in
origin form: :func:`received` decodes and validates each distinct pair once (remembered,
bounded), and :func:`lean_url` builds ``request.url`` from a remembered ``Host`` without
walking the headers. Both answer exactly what the general path (decode every header,
:func:`url_of`, ``Headers`` validating each pair) answers; a header that is not valid sends
the request down the general path, which words the ``400``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, MutableMapping, Sequence
from typing import Any

from cfemu.runtime.frontend import parse_host, request_url
from cfemu.runtime.headers import _header_name, _header_value, decode_header

__all__ = [
    "WIRE_LISTS_MAX",
    "WIRE_LIST_BYTES",
    "WIRE_PAIRS_MAX",
    "WIRE_PAIR_BYTES",
    "default_host",
    "lean_url",
    "received",
    "url_of",
]

Scope = MutableMapping[str, Any]
#: The ASGI scope key under which ``cfemu dev``'s HTTP server offers the request's
#: ``respond(status, headers, body) -> bool``: the whole fixed-length response written at
#: once, as an ``http.response.start`` and a last ``http.response.body`` would write it,
#: without the two messages; ``False`` (nothing written) tells the app to send them.
RESPOND = "cfemu.respond"
#: How many pairs (and Host values) each cache remembers at most.
WIRE_PAIRS_MAX = 2048
#: A pair longer than this (cookies, tokens) is not remembered.
WIRE_PAIR_BYTES = 256
#: How many whole header lists :func:`received` remembers, and the most bytes of one.
WIRE_LISTS_MAX = 256
WIRE_LIST_BYTES = 4096

#: Header pairs from the wire, to the pair a Worker's ``Headers`` holds (decoded as
#: :func:`decode_header` does, validated): the same few pairs (Host, User-Agent, Accept...)
#: arrive on every request. Bounded in entries and in the size of a pair remembered.
_PAIRS: dict[tuple[bytes, bytes], tuple[str, str]] = {}


def received(
    raw: Iterable[tuple[bytes, bytes]],
) -> tuple[list[tuple[str, str]], Sequence[bytes], str | None, bool] | None:
    """The request's headers as valid ``Headers`` pairs (a list of its own), its raw
    ``Host`` values, its first ``Content-Length`` (decoded, untrimmed, as the general path
    reads it) and whether it has a ``Transfer-Encoding``; ``None`` if a header is not valid
    (the general path answers). A list of headers seen before (a client sends the same ones
    on every request) is answered from what was remembered (bounded)."""
    key = tuple(raw)
    try:
        seen = _LISTS.get(key)
    except TypeError:  # an item that is not a pair of bytes: answered one by one
        seen = None
    if seen is not None:
        pairs, hosts, length, chunked = seen
        return pairs.copy(), hosts, length, chunked
    answer = _received(key)
    if (
        answer is not None
        and len(_LISTS) < WIRE_LISTS_MAX
        and sum(len(name) + len(value) for name, value in key) <= WIRE_LIST_BYTES
    ):
        with contextlib.suppress(TypeError):  # an item that is not a pair of bytes
            _LISTS[key] = (answer[0].copy(), *answer[1:])
    return answer


#: Whole header lists seen before (as the server gives them) to what :func:`received`
#: answered; at most :data:`WIRE_LISTS_MAX` lists of at most :data:`WIRE_LIST_BYTES`.
_LISTS: dict[
    tuple[tuple[bytes, bytes], ...],
    tuple[list[tuple[str, str]], Sequence[bytes], str | None, bool],
] = {}


def _received(
    raw: Iterable[tuple[bytes, bytes]],
) -> tuple[list[tuple[str, str]], Sequence[bytes], str | None, bool] | None:
    """The request's headers as valid ``Headers`` pairs, its raw ``Host`` values, its first
    ``Content-Length`` (decoded, untrimmed, as the general path reads it) and whether it has a
    ``Transfer-Encoding``; ``None`` if a header is not valid (the general path answers)."""
    pairs: list[tuple[str, str]] = []
    hosts: list[bytes] = []
    length: str | None = None
    chunked = False
    known = _PAIRS
    for item in raw:
        pair = known.get(item) if type(item) is tuple else None
        if pair is None:
            name, value = item
            try:
                pair = (_header_name(name.decode("latin-1")), _header_value(decode_header(value)))
            except TypeError:
                return None
            if len(name) + len(value) <= WIRE_PAIR_BYTES and len(known) < WIRE_PAIRS_MAX:
                known[(name, value)] = pair
        pairs.append(pair)
        key = pair[0]
        if key == "host":
            hosts.append(item[1])
        elif key == "content-length":
            if length is None:
                length = decode_header(item[1])
        elif key == "transfer-encoding":
            chunked = True
    return pairs, tuple(hosts), length, chunked


def lean_url(scope: Scope, hosts: Sequence[bytes]) -> str:
    """What :func:`url_of` answers without forwarding trust, given the raw ``Host``
    values: for one ``Host`` (or none) and a target in origin form (``/path?query``),
    without its walk of the headers. The URL of a (``Host``, target, scheme) seen before is
    remembered (bounded as the pairs)."""
    raw_path = scope.get("raw_path")
    query = scope.get("query_string", b"")
    scheme = scope.get("scheme", "http")
    key = None
    if raw_path and len(hosts) == 1:
        key = (hosts[0], raw_path, query, scheme)
        url = _URLS.get(key)
        if url is not None:
            return url
    path = raw_path.decode("latin-1") if raw_path else scope.get("root_path", "") + scope["path"]
    target = f"{path}?{query.decode('latin-1')}" if query else path
    if len(hosts) > 1 or not target.startswith("/"):
        return url_of(scope, [("host", decode_header(value)) for value in hosts], False)
    if not hosts:
        return f"{scheme}://{parse_host(default_host(scope), scheme)}{target}"
    authority_key = (hosts[0], scheme)
    authority = _AUTHORITIES.get(authority_key)
    if authority is None:
        authority = parse_host(decode_header(hosts[0]).strip(" \t"), scheme)
        if len(_AUTHORITIES) < WIRE_PAIRS_MAX:
            _AUTHORITIES[authority_key] = authority
    url = f"{scheme}://{authority}{target}"
    if key is not None and len(url) <= WIRE_PAIR_BYTES and len(_URLS) < WIRE_PAIRS_MAX:
        _URLS[key] = url
    return url


#: (raw ``Host``, raw path, query, scheme) to the request's URL (only for a valid ``Host``
#: and a target in origin form: what the general path would answer), bounded as ``_PAIRS``.
_URLS: dict[tuple[bytes, bytes, bytes, str], str] = {}


#: A raw ``Host`` value and scheme, to the URL authority :func:`parse_host` makes of them
#: (bounded as ``_PAIRS``; a ``Host`` it refuses is not remembered).
_AUTHORITIES: dict[tuple[bytes, str], str] = {}


def default_host(scope: Scope) -> str:
    """The host of a request without ``Host``: the server's address, else ``localhost``."""
    server = scope.get("server")
    if not server:
        return "localhost"
    address = f"[{server[0]}]" if ":" in str(server[0]) else str(server[0])
    return f"{address}:{server[1]}" if server[1] is not None else address


def url_of(scope: Scope, headers: list[tuple[str, str]], trust_forwarded: bool) -> str:
    """``request.url`` for an ASGI request with these (decoded) headers
    (:func:`~cfemu.runtime.frontend.request_url`)."""
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope.get("root_path", "") + scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return request_url(
        scope.get("scheme", "http"),
        path + (f"?{query}" if query else ""),
        headers,
        default_host=default_host(scope),
        trust_forwarded=trust_forwarded,
    )
