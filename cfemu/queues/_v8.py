"""The ``v8`` content type's stored form: structured-clone values encoded as data, never pickle.

Cloudflare serializes a ``v8`` body with V8's structured clone, which carries more than JSON
(dates, maps with any keys, sets, binary data, big integers, shared references and cycles) but
never code. cfemu stores the Python counterparts in a small tagged binary format, so reading
a stored body — delivering it, or ``cfemu queues inspect`` — only ever builds plain values:

==================================  ==========================================================
Python value                        structured clone counterpart
==================================  ==========================================================
``None``, ``bool``, ``int``, ``float``, ``str``   primitives (any integer size: BigInt)
``bytes``, ``bytearray``            ArrayBuffer / Uint8Array
``list``, ``tuple``                 Array
``dict`` (hashable keys of these types)  Map / Object
``set``, ``frozenset``              Set
``datetime``, ``date``, ``time``, ``timedelta`` (fixed-offset or ``zoneinfo`` zones)   Date
``decimal.Decimal``, ``complex``    (number-like values)
``re.Pattern``                      RegExp
==================================  ==========================================================

Shared references and cycles through lists, dicts, sets and bytearrays are kept, as a
structured clone keeps them. Anything else is refused when sent, as V8 refuses a value it
cannot clone (``DataCloneError``). A payload starts with :data:`MAGIC`; anything else (a
pickle written by cfemu before queue state format 2) is never decoded here.
"""

from __future__ import annotations

import re
import struct
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

__all__ = ["MAGIC", "V8DecodeError", "V8EncodeError", "dumps", "loads"]

#: First bytes of every stored ``v8`` body (format 1 of this encoding).
MAGIC: Final = b"\x00cv8\x01"
#: Nesting deeper than this is refused (both ways): no recursion error, no stack exhaustion.
MAX_DEPTH: Final = 200

_DOUBLE = struct.Struct("<d")


class V8EncodeError(TypeError):
    """A value the ``v8`` content type cannot carry (V8's ``DataCloneError``)."""


class V8DecodeError(ValueError):
    """Stored bytes that are not a ``v8`` body in cfemu's encoding."""


def dumps(value: object) -> bytes:
    """Encode ``value``; :class:`V8EncodeError` names the first value that cannot be cloned."""
    out = bytearray(MAGIC)
    _Encoder(out).encode(value, 0)
    return bytes(out)


def loads(data: bytes) -> Any:
    """Decode a stored body; :class:`V8DecodeError` for anything not written by :func:`dumps`.

    Only builds the value types listed in the module docstring; never imports or calls
    anything named by the data.
    """
    if not data.startswith(MAGIC):
        if data[:1] == b"\x80":
            raise V8DecodeError(
                f"a v8 body stored as a pickle by an older cfemu ({len(data)} bytes); cfemu "
                "no longer unpickles stored bodies"
            )
        raise V8DecodeError(f"not a cfemu v8 body ({len(data)} bytes)")
    decoder = _Decoder(data)
    try:
        value = decoder.decode(0)
    except V8DecodeError:
        raise
    except (IndexError, KeyError, ValueError, TypeError, ArithmeticError, struct.error) as exc:
        raise V8DecodeError(f"corrupt v8 body at byte {decoder.pos}: {exc}") from None
    if decoder.pos != len(data):
        raise V8DecodeError(f"corrupt v8 body: {len(data) - decoder.pos} trailing bytes")
    return value


def _write_uint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


class _Encoder:
    __slots__ = ("memo", "out", "pending")

    def __init__(self, out: bytearray) -> None:
        self.out = out
        self.memo: dict[int, int] = {}  # id(mutable container) -> reference number
        self.pending: set[int] = set()  # tuples/frozensets being encoded (cycle check)

    def _register(self, value: object) -> bool:
        """True if ``value`` was seen already (a back-reference was written)."""
        ref = self.memo.get(id(value))
        if ref is not None:
            self.out.append(0x52)  # R
            _write_uint(self.out, ref)
            return True
        self.memo[id(value)] = len(self.memo)
        return False

    def _bytes(self, tag: int, data: bytes) -> None:
        self.out.append(tag)
        _write_uint(self.out, len(data))
        self.out += data

    def encode(self, value: object, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise V8EncodeError(f"value nested deeper than {MAX_DEPTH} levels could not be cloned")
        out = self.out
        # Exact types first (the common case); then subclasses, which lose their class as a
        # structured clone loses an object's prototype (an IntEnum arrives as an int).
        if value is None:
            out.append(0x4E)  # N
        elif value is True:
            out.append(0x54)  # T
        elif value is False:
            out.append(0x46)  # F
        elif isinstance(value, int):
            self._int(value)
        elif isinstance(value, float):
            out.append(0x66)  # f
            out += _DOUBLE.pack(value)
        elif isinstance(value, str):
            self._bytes(0x73, str.encode(value, "utf-8", "surrogatepass"))  # s
        elif isinstance(value, bytes):
            self._bytes(0x62, bytes(value))  # b
        elif isinstance(value, bytearray):
            if not self._register(value):
                self._bytes(0x42, bytes(value))  # B
        elif isinstance(value, list | dict | set):
            if self._register(value):
                return
            depth += 1
            if isinstance(value, dict):
                items = list(value.items())
                out.append(0x64)  # d
                _write_uint(out, len(items))
                for key, item in items:
                    self.encode(key, depth)
                    self.encode(item, depth)
                return
            members = list(value)
            out.append(0x6C if isinstance(value, list) else 0x65)  # l / e
            _write_uint(out, len(members))
            for item in members:
                self.encode(item, depth)
        elif isinstance(value, tuple | frozenset):
            if id(value) in self.pending:
                raise V8EncodeError("a cycle through a tuple or frozenset could not be cloned")
            self.pending.add(id(value))
            out.append(0x74 if isinstance(value, tuple) else 0x45)  # t / E
            _write_uint(out, len(value))
            for item in value:
                self.encode(item, depth + 1)
            self.pending.discard(id(value))
        else:
            self._other(value)

    def _int(self, value: int) -> None:
        self._bytes(0x69, int.to_bytes(value, value.bit_length() // 8 + 1, "little", signed=True))

    def _other(self, value: object) -> None:
        out = self.out
        if isinstance(value, datetime):
            self._bytes(0x44, value.replace(tzinfo=None).isoformat().encode())  # D
            out.append(value.fold)
            self._zone(value.tzinfo)
        elif isinstance(value, date):
            self._bytes(0x61, value.isoformat().encode())  # a
        elif isinstance(value, time):
            self._bytes(0x68, value.replace(tzinfo=None).isoformat().encode())  # h
            out.append(value.fold)
            self._zone(value.tzinfo)
        elif isinstance(value, timedelta):
            out.append(0x75)  # u
            self._int(value.days)
            self._int(value.seconds)
            self._int(value.microseconds)
        elif isinstance(value, Decimal):
            self._bytes(0x78, str(value).encode())  # x
        elif isinstance(value, complex):
            out.append(0x63)  # c
            out += _DOUBLE.pack(value.real) + _DOUBLE.pack(value.imag)
        elif isinstance(value, re.Pattern):
            pattern = value.pattern
            if not isinstance(pattern, str):
                raise V8EncodeError("a bytes regular expression could not be cloned")
            self._bytes(0x67, pattern.encode("utf-8", "surrogatepass"))  # g
            _write_uint(out, int(value.flags))
        else:
            raise V8EncodeError(f"{type(value).__name__} object could not be cloned")

    def _zone(self, zone: tzinfo | None) -> None:
        out = self.out
        if zone is None:
            out.append(0x6E)  # n
        elif type(zone) is timezone:
            assert isinstance(zone, timezone)
            offset = zone.utcoffset(None)
            name = zone.tzname(None)
            default = timezone(offset).tzname(None)
            out.append(0x6F)  # o
            self.encode(offset, 0)
            self.encode(None if name == default else name, 0)
        elif type(zone) is ZoneInfo:
            assert isinstance(zone, ZoneInfo)
            self._bytes(0x7A, zone.key.encode())  # z
        else:
            raise V8EncodeError(f"a time zone of type {type(zone).__name__} could not be cloned")


class _Decoder:
    __slots__ = ("data", "pos", "refs")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = len(MAGIC)
        self.refs: list[Any] = []

    def _uint(self) -> int:
        data = self.data
        shift = n = 0
        while True:
            byte = data[self.pos]
            self.pos += 1
            n |= (byte & 0x7F) << shift
            if byte < 0x80:
                return n
            shift += 7
            if shift > 63:
                raise V8DecodeError("corrupt v8 body: length out of range")

    def _raw(self) -> bytes:
        n = self._uint()
        start = self.pos
        end = start + n
        if end > len(self.data):
            raise V8DecodeError("corrupt v8 body: truncated")
        self.pos = end
        return self.data[start:end]

    def _int(self) -> int:
        if self.data[self.pos] != 0x69:
            raise V8DecodeError("corrupt v8 body: integer expected")
        self.pos += 1
        return int.from_bytes(self._raw(), "little", signed=True)

    def _double(self) -> float:
        start = self.pos
        self.pos += 8
        value: float = _DOUBLE.unpack(self.data[start : self.pos])[0]
        return value

    def decode(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise V8DecodeError(f"corrupt v8 body: nested deeper than {MAX_DEPTH} levels")
        tag = self.data[self.pos]
        self.pos += 1
        if tag == 0x4E:
            return None
        if tag == 0x54:
            return True
        if tag == 0x46:
            return False
        if tag == 0x69:
            return int.from_bytes(self._raw(), "little", signed=True)
        if tag == 0x66:
            return self._double()
        if tag == 0x73:
            return self._raw().decode("utf-8", "surrogatepass")
        if tag == 0x62:
            return self._raw()
        if tag == 0x42:
            array = bytearray(self._raw())
            self.refs.append(array)
            return array
        if tag == 0x52:
            ref = self._uint()
            if ref >= len(self.refs):
                raise V8DecodeError("corrupt v8 body: reference to nothing")
            return self.refs[ref]
        if tag in (0x6C, 0x64, 0x65):
            return self._container(tag, depth + 1)
        if tag in (0x74, 0x45):
            n = self._uint()
            items = [self.decode(depth + 1) for _ in range(n)]
            return tuple(items) if tag == 0x74 else frozenset(items)
        return self._other(tag)

    def _container(self, tag: int, depth: int) -> Any:
        n = self._uint()
        if n > len(self.data):
            raise V8DecodeError("corrupt v8 body: count out of range")
        if tag == 0x6C:
            items: list[Any] = []
            self.refs.append(items)
            append = items.append
            for _ in range(n):
                append(self.decode(depth))
            return items
        if tag == 0x64:
            mapping: dict[Any, Any] = {}
            self.refs.append(mapping)
            for _ in range(n):
                key = self.decode(depth)
                mapping[key] = self.decode(depth)
            return mapping
        members: set[Any] = set()
        self.refs.append(members)
        for _ in range(n):
            members.add(self.decode(depth))
        return members

    def _other(self, tag: int) -> Any:
        if tag == 0x44:
            moment = datetime.fromisoformat(self._raw().decode())
            fold = self._fold()
            return moment.replace(tzinfo=self._zone(), fold=fold)
        if tag == 0x61:
            return date.fromisoformat(self._raw().decode())
        if tag == 0x68:
            clock = time.fromisoformat(self._raw().decode())
            fold = self._fold()
            return clock.replace(tzinfo=self._zone(), fold=fold)
        if tag == 0x75:
            days, seconds, micros = self._int(), self._int(), self._int()
            return timedelta(days=days, seconds=seconds, microseconds=micros)
        if tag == 0x78:
            return Decimal(self._raw().decode())
        if tag == 0x63:
            return complex(self._double(), self._double())
        if tag == 0x67:
            pattern = self._raw().decode("utf-8", "surrogatepass")
            return re.compile(pattern, self._uint())
        raise V8DecodeError(f"corrupt v8 body: unknown tag {tag:#x} at byte {self.pos - 1}")

    def _fold(self) -> int:
        fold = self.data[self.pos]
        self.pos += 1
        if fold not in (0, 1):
            raise V8DecodeError("corrupt v8 body: bad fold")
        return fold

    def _zone(self) -> tzinfo | None:
        tag = self.data[self.pos]
        self.pos += 1
        if tag == 0x6E:
            return None
        if tag == 0x6F:
            offset = self.decode(MAX_DEPTH)
            name = self.decode(MAX_DEPTH)
            if type(offset) is not timedelta or not (name is None or type(name) is str):
                raise V8DecodeError("corrupt v8 body: bad time zone")
            return timezone(offset) if name is None else timezone(offset, name)
        if tag == 0x7A:
            key = self._raw().decode()
            if not re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", key):
                raise V8DecodeError(f"corrupt v8 body: bad time zone key {key!r}")
            return ZoneInfo(key)
        raise V8DecodeError("corrupt v8 body: bad time zone")
