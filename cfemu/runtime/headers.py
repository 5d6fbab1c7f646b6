"""JavaScript's ``Headers`` for Python Workers, validated as the Fetch standard and workerd do.

A name must be an HTTP token (``TypeError: Invalid header name.``); a value is trimmed of
HTTP whitespace (space, tab, CR, LF) at both ends and must then hold no CR, LF or NUL
(``TypeError: Invalid header value.``), workerd's wording. Values may hold other characters,
non-ASCII included (workerd sends them as UTF-8). ``get``, ``has`` and ``delete`` validate the
name too, as workerd does.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator, Mapping
from typing import TypeAlias

__all__ = [
    "INVALID_HEADER_NAME",
    "INVALID_HEADER_VALUE",
    "HTTPMessageMapping",
    "Headers",
    "HeadersInit",
    "decode_header",
]

#: What ``headers=`` accepts: a dict, a list of ``(name, value)`` pairs or a :class:`Headers`.
HeadersInit: TypeAlias = "Mapping[str, str] | list[tuple[str, str]] | Headers"

#: workerd's ``TypeError`` message for a header name that is not an HTTP token.
INVALID_HEADER_NAME = "Invalid header name."
#: workerd's ``TypeError`` message for a header value holding CR, LF or NUL.
INVALID_HEADER_VALUE = "Invalid header value."
_PAIR_LENGTH = (
    "To initialize a Headers object from a sequence, each inner sequence must have exactly "
    "two elements."
)
# RFC 9110 §5.6.2 token characters; HTTP whitespace is space, tab, CR and LF (Fetch).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HTTP_WHITESPACE = " \t\r\n"
_FORBIDDEN_IN_VALUE = re.compile(r"[\x00\r\n]")


def decode_header(raw: bytes) -> str:
    """Header bytes from the wire as text: UTF-8, as workerd reads them, else latin-1 (so
    any byte string decodes, one character per byte)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class HTTPMessageMapping(http.client.HTTPMessage, Mapping[str, str]):  # type: ignore[misc]
    """An ``http.client.HTTPMessage`` that is also a ``Mapping``, as the SDK's ``.headers``
    is (1.9.x): ``headers["name"]``, ``in``, ``get_all()`` and ``dict(headers)`` work."""


#: Header names already validated, to their lowercase form (bounded: names repeat).
_NAMES: dict[str, str] = {}


def _header_name(name: object) -> str:
    """``name`` lowercased; ``TypeError`` unless it is an HTTP token."""
    if type(name) is str:
        known = _NAMES.get(name)
        if known is not None:
            return known
    text = name if isinstance(name, str) else str(name)
    if _TOKEN.fullmatch(text) is None:
        raise TypeError(INVALID_HEADER_NAME)
    lowered = text.lower()
    if type(name) is str and len(_NAMES) < 1024:
        _NAMES[name] = lowered
    return lowered


def _header_value(value: object) -> str:
    """``value`` trimmed of HTTP whitespace; ``TypeError`` if it still holds CR, LF or NUL."""
    text = (value if isinstance(value, str) else str(value)).strip(_HTTP_WHITESPACE)
    if _FORBIDDEN_IN_VALUE.search(text) is not None:
        raise TypeError(INVALID_HEADER_VALUE)
    return text


class Headers:
    """HTTP headers as JavaScript's ``Headers`` keeps them: ordered pairs, names lowercased.

    ``get`` joins repeated values with ``", "``; :meth:`items` yields every pair (so several
    ``Set-Cookie`` headers survive). The SDK's ``headers=`` arguments accept it like a
    ``js.Headers``; the ``.headers`` properties return an ``http.client.HTTPMessage`` made
    from it.
    """

    __slots__ = ("_pairs",)

    def __init__(self, init: HeadersInit | None = None) -> None:
        self._pairs: list[tuple[str, str]] = []
        if init is None:
            return
        if type(init) is list:  # the transports' pairs: no ABC or wrapper checks first
            self._extend(init)
            return
        unwrap = getattr(init, "__cfemu_headers__", None)
        if unwrap is not None:  # a js.Headers
            init = unwrap()
        if isinstance(init, Headers):
            self._pairs = list(init._pairs)
            return
        if isinstance(init, Mapping):
            for name, value in init.items():
                self.append(name, value)
        elif isinstance(init, list):
            self._extend(init)
        else:
            raise TypeError("Received unexpected type for headers argument")

    @classmethod
    def _valid(cls, pairs: list[tuple[str, str]]) -> Headers:
        """Headers holding ``pairs`` (taken, not copied), which are already valid: names
        lowercase HTTP tokens, values trimmed without CR, LF or NUL (cfemu's own pairs)."""
        headers = cls.__new__(cls)
        headers._pairs = pairs
        return headers

    def _extend(self, pairs: list[tuple[str, str]]) -> None:
        append = self._pairs.append
        for pair in pairs:
            if len(pair) != 2:
                raise TypeError(_PAIR_LENGTH)
            append((_header_name(pair[0]), _header_value(pair[1])))

    def append(self, name: str, value: str) -> None:
        """Add a value, keeping the existing ones (``TypeError`` for an invalid header)."""
        self._pairs.append((_header_name(name), _header_value(value)))

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with ``value`` (``TypeError`` for an invalid one)."""
        pair = (_header_name(name), _header_value(value))
        self._pairs = [(k, v) for k, v in self._pairs if k != pair[0]]
        self._pairs.append(pair)

    def _default(self, key: str, value: str) -> None:
        """Add ``key: value`` unless ``key`` has a value (both already valid, ``key``
        lowercase): how a body sets its implied content type."""
        for k, _ in self._pairs:
            if k == key:
                return
        self._pairs.append((key, value))

    def delete(self, name: str) -> None:
        """Remove every value of ``name``."""
        key = _header_name(name)
        self._pairs = [(k, v) for k, v in self._pairs if k != key]

    def has(self, name: str) -> bool:
        """Whether ``name`` has a value."""
        key = _header_name(name)
        return any(k == key for k, _ in self._pairs)

    def get(self, name: str) -> str | None:
        """Every value of ``name`` joined by ``", "``, or ``None``."""
        key = _header_name(name)
        values = [v for k, v in self._pairs if k == key]
        return ", ".join(values) if values else None

    def getSetCookie(self) -> list[str]:
        """Every ``Set-Cookie`` value, separately."""
        return [v for k, v in self._pairs if k == "set-cookie"]

    def items(self) -> list[tuple[str, str]]:
        """Every ``(name, value)`` pair in order, names lowercased."""
        return list(self._pairs)

    def to_message(self) -> http.client.HTTPMessage:
        """The headers as an ``http.client.HTTPMessage`` that is also a ``Mapping`` (the
        SDK's ``HTTPMessageMapping``), so ``Response(body, headers=other.headers)`` works."""
        message = HTTPMessageMapping()
        for name, value in self._pairs:
            message[name] = value
        return message

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _TOKEN.fullmatch(name) is not None and self.has(name)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._pairs))

    def __len__(self) -> int:
        return len(self._pairs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._pairs == other._pairs

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"
