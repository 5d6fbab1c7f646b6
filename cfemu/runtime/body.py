"""Body values of the Python Workers SDK: ``Blob``, ``File``, ``FormData``, array buffers.

On Cloudflare these wrap JavaScript objects; in cfemu they hold Python bytes. Their API is
the SDK's (spec: workers-and-config.md §2.5, Appendix A): ``Blob(parts, content_type)``,
``File(parts, filename)``, ``FormData`` as a multi-valued mapping. This module also encodes
and parses the two form encodings ``Request.form_data()``/``Response.form_data()`` accept.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from email.message import Message
from enum import StrEnum
from typing import TypeAlias
from urllib.parse import parse_qsl

from cfemu.runtime._scope import current_clock

__all__ = [
    "ArrayBuffer",
    "Blob",
    "BlobEnding",
    "BlobValue",
    "File",
    "FormData",
    "FormDataValue",
    "decode_form",
    "encode_form",
]

#: What a ``Blob``/``File`` can be built from.
BlobValue: TypeAlias = "str | bytes | bytearray | memoryview | Blob"
#: A value stored in :class:`FormData`: text, or a file.
FormDataValue: TypeAlias = "str | Blob"


class ArrayBuffer(bytes):
    """The bytes ``await body.buffer()`` returns: JavaScript's ``ArrayBuffer``, as bytes.

    Code written for Cloudflare converts it with ``.to_bytes()``; that works here too, and it
    is also plain ``bytes``.
    """

    __slots__ = ()

    @property
    def byteLength(self) -> int:
        """Length in bytes, as JavaScript names it."""
        return len(self)

    def to_bytes(self) -> bytes:
        """The contents as ``bytes`` (Pyodide's ``JsBuffer.to_bytes()``)."""
        return bytes(self)

    def to_memoryview(self) -> memoryview:
        """The contents as a ``memoryview`` (Pyodide's ``JsBuffer.to_memoryview()``)."""
        return memoryview(bytes(self))

    def to_string(self, encoding: str = "utf-8") -> str:
        """The contents decoded as text (Pyodide's ``JsBuffer.to_string()``)."""
        return self.decode(encoding)


class BlobEnding(StrEnum):
    """How ``Blob`` treats line endings in ``str`` parts (JavaScript's ``endings`` option)."""

    TRANSPARENT = "transparent"
    NATIVE = "native"


def _part_bytes(part: object) -> bytes:
    if isinstance(part, str):
        return part.encode()
    if isinstance(part, Blob):
        return part._data
    if isinstance(part, bytes | bytearray | memoryview):
        return bytes(part)
    raise TypeError(f"Don't know how to handle {type(part)} for Blob()")


class Blob:
    """Immutable binary data with a content type (the web ``Blob``)."""

    __slots__ = ("_data", "_type")

    def __init__(
        self,
        blob_parts: Iterable[BlobValue] | BlobValue,
        content_type: str | None = None,
        endings: BlobEnding | str | None = None,
    ) -> None:
        # ``endings="native"`` converts to the platform's line ending; Workers run on Linux,
        # where that is "\n" already, so both settings leave the data as it is.
        del endings
        if isinstance(blob_parts, str | bytes | bytearray | memoryview | Blob):
            if content_type is None and isinstance(blob_parts, Blob):
                content_type = blob_parts.content_type
            blob_parts = [blob_parts]
        self._data = b"".join(_part_bytes(p) for p in blob_parts)
        self._type = (content_type or "").lower()

    @property
    def size(self) -> int:
        """Number of bytes."""
        return len(self._data)

    @property
    def content_type(self) -> str:
        """MIME type, lowercased; ``""`` when unknown."""
        return self._type

    @property
    def type(self) -> str:
        """JavaScript's name for :attr:`content_type`."""
        return self._type

    @property
    def js_object(self) -> Blob:
        """The object itself: there is no JavaScript object behind it in cfemu."""
        return self

    async def text(self) -> str:
        """The data decoded as UTF-8 (a leading BOM dropped, as JavaScript's ``text()`` does)."""
        return self._data.decode("utf-8-sig", errors="replace")

    async def bytes(self) -> bytes:
        """The data."""
        return self._data

    async def arrayBuffer(self) -> ArrayBuffer:
        """The data as an :class:`ArrayBuffer`."""
        return ArrayBuffer(self._data)

    def slice(
        self, start: int | None = None, end: int | None = None, content_type: str | None = None
    ) -> Blob:
        """A new ``Blob`` holding bytes ``start:end`` (negative indexes count from the end)."""
        return Blob([self._data[start:end]], content_type)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, content_type={self._type!r})"


class File(Blob):
    """A :class:`Blob` with a file name and a modification time (the web ``File``)."""

    __slots__ = ("_last_modified", "_name")

    def __init__(
        self,
        blob_parts: Iterable[BlobValue] | BlobValue,
        filename: str,
        content_type: str | None = None,
        endings: BlobEnding | str | None = None,
        last_modified: int | None = None,
    ) -> None:
        if last_modified is None and isinstance(blob_parts, File):
            last_modified = blob_parts.last_modified
        super().__init__(blob_parts, content_type, endings)
        self._name = filename
        # JavaScript's default is Date.now(): ask the Worker's clock.
        self._last_modified = last_modified if last_modified is not None else _now_ms()

    @property
    def name(self) -> str:
        """The file name."""
        return self._name

    @property
    def last_modified(self) -> int:
        """Modification time, milliseconds since the Unix epoch."""
        return self._last_modified

    @property
    def lastModified(self) -> int:
        """JavaScript's name for :attr:`last_modified`."""
        return self._last_modified

    def __repr__(self) -> str:
        return f"File(name={self._name!r}, size={self.size}, content_type={self._type!r})"


def _now_ms() -> int:
    return current_clock().now_ms()


class FormData(MutableMapping[str, FormDataValue]):
    """Ordered, multi-valued form fields (the web ``FormData``).

    ``form["k"]`` is the first value of ``k`` (``KeyError`` if none); assignment replaces
    every value of ``k``; :meth:`append` adds one; :meth:`get_all` returns them all.
    A :class:`Blob` value is stored as a :class:`File` (named ``"blob"`` unless given).
    """

    __slots__ = ("_entries",)

    def __init__(self, form_data: Mapping[str, FormDataValue] | FormData | None = None) -> None:
        self._entries: list[tuple[str, FormDataValue]] = []
        if isinstance(form_data, FormData):
            self._entries = list(form_data._entries)
        elif isinstance(form_data, Mapping):
            for key, value in form_data.items():
                self.append(key, value)
        elif form_data is not None:
            raise TypeError("Expected form_data to be a dict or an instance of FormData")

    @staticmethod
    def _normalize(value: object, filename: str | None) -> FormDataValue:
        if isinstance(value, list):
            raise TypeError("Expected single item in arguments to FormData")
        if isinstance(value, Blob):
            if isinstance(value, File) and filename is None:
                return value
            return File(value, filename or "blob", value.content_type)
        if not isinstance(value, str):
            return str(value)  # JavaScript converts other values to strings
        return value

    def __getitem__(self, key: str) -> FormDataValue:
        for k, v in self._entries:
            if k == key:
                return v
        raise KeyError(key)

    def __setitem__(self, key: str, value: FormDataValue) -> None:
        value = self._normalize(value, None)
        out: list[tuple[str, FormDataValue]] = []
        placed = False
        for k, v in self._entries:
            if k != key:
                out.append((k, v))
            elif not placed:
                out.append((k, value))
                placed = True
        if not placed:
            out.append((key, value))
        self._entries = out

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.delete(key)

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[str]:  # type: ignore[override]
        """Every key, once per value (JavaScript's ``keys()``)."""
        return [k for k, _ in self._entries]

    def values(self) -> list[FormDataValue]:  # type: ignore[override]
        """Every value, in order."""
        return [v for _, v in self._entries]

    def items(self) -> list[tuple[str, FormDataValue]]:  # type: ignore[override]
        """Every ``(key, value)`` pair, in order."""
        return list(self._entries)

    def append(self, key: str, value: FormDataValue, filename: str | None = None) -> None:
        """Add one value for ``key``, keeping the others."""
        self._entries.append((key, self._normalize(value, filename)))

    def delete(self, key: str) -> None:
        """Remove every value of ``key`` (no error if there is none)."""
        self._entries = [(k, v) for k, v in self._entries if k != key]

    def get_all(self, key: str) -> list[FormDataValue]:
        """Every value of ``key``, in order."""
        return [v for k, v in self._entries if k == key]

    def getAll(self, key: str) -> list[FormDataValue]:
        """JavaScript's name for :meth:`get_all`."""
        return self.get_all(key)

    def has(self, key: str) -> bool:
        """Whether ``key`` has at least one value."""
        return key in self

    @property
    def js_object(self) -> FormData:
        """The object itself: there is no JavaScript object behind it in cfemu."""
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FormData) and self._entries == other._entries

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FormData({self._entries!r})"


def _quote_form_name(name: str) -> str:
    # HTML's multipart/form-data encoding escapes these three characters in names.
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def encode_form(form: FormData) -> tuple[bytes, str]:
    """Encode ``form`` as ``multipart/form-data``: ``(body, content_type)``."""
    boundary = f"----cfemuFormBoundary{secrets.token_hex(12)}"
    out: list[bytes] = []
    for key, value in form.items():
        out.append(f"--{boundary}\r\n".encode())
        disposition = f'Content-Disposition: form-data; name="{_quote_form_name(key)}"'
        if isinstance(value, Blob):
            name = value.name if isinstance(value, File) else "blob"
            ctype = value.content_type or "application/octet-stream"
            out.append(
                f'{disposition}; filename="{_quote_form_name(name)}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n".encode()
            )
            out.append(value._data)
        else:
            out.append(f"{disposition}\r\n\r\n".encode())
            out.append(value.encode())
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


_UNRECOGNIZED_FORM = (
    "Unrecognized Content-Type header value. FormData can only parse the following MIME "
    "types: multipart/form-data, application/x-www-form-urlencoded"
)


_DISPOSITION_PARAM = re.compile(
    r'(?:^|;)\s*(name|filename)\s*=\s*(?:"([^"]*)"|([^;\s]*))', re.IGNORECASE
)


def _unquote_form_name(name: str) -> str:
    return name.replace("%0A", "\n").replace("%0D", "\r").replace("%22", '"')


def _boundary_of(content_type: str) -> str:
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise TypeError("Failed to parse body as FormData: no multipart boundary")
    return boundary


def _parse_multipart(body: bytes, boundary: str) -> FormData:
    form = FormData()
    # Each delimiter is CRLF "--" boundary; the first may open the body without the CRLF.
    sections = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    if len(sections) < 2:
        raise TypeError("Failed to parse body as FormData: no multipart boundary found")
    for section in sections[1:]:
        if section.startswith(b"--"):
            return form  # the close delimiter
        _, newline, part = section.partition(b"\r\n")  # rest of the delimiter line
        head, separator, data = part.partition(b"\r\n\r\n")
        if not newline or not separator:
            raise TypeError("Failed to parse body as FormData: malformed multipart part")
        fields: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        params = {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _DISPOSITION_PARAM.finditer(fields.get("content-disposition", ""))
        }
        if "name" not in params:
            continue
        name = _unquote_form_name(params["name"])
        if "filename" in params:
            filename = _unquote_form_name(params["filename"])
            form.append(name, File([data], filename, fields.get("content-type", "")))
        else:
            form.append(name, data.decode("utf-8", "replace"))
    raise TypeError("Failed to parse body as FormData: missing closing boundary")


def decode_form(body: bytes, content_type: str | None) -> FormData:
    """Parse a ``multipart/form-data`` or ``application/x-www-form-urlencoded`` body.

    Raises ``TypeError`` (as JavaScript's ``formData()`` does) for any other content type
    or a malformed body.
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime == "application/x-www-form-urlencoded":
        form = FormData()
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            form.append(key, value)
        return form
    if mime != "multipart/form-data":
        raise TypeError(_UNRECOGNIZED_FORM)
    assert content_type is not None
    return _parse_multipart(body, _boundary_of(content_type))
