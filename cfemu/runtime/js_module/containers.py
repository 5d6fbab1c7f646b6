"""JavaScript containers as Pyodide shows them: ``Array``, ``Map``, ``Set`` and buffers
(``ArrayBuffer``, ``Uint8Array``), each a Python sequence, mapping or bytes-like view."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from cfemu.runtime.js_module.proxy import JsObject, JsProxy, js_name, js_value, jsnull, to_py

__all__ = ["JsArray", "JsBuffer", "JsMap", "JsSet"]


class JsArray(JsProxy):
    """A JavaScript ``Array``: a mutable sequence; ``length``, ``push``, ``join``..."""

    __slots__ = ("_items",)
    js_class = "Array"
    _items: list[Any]

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._items = list(items)

    def _props(self) -> dict[str, Any]:
        return {str(i): v for i, v in enumerate(self._items)}

    @property
    def length(self) -> int:
        """Number of items."""
        return len(self._items)

    def push(self, *items: Any) -> int:
        """Append ``items``; the new length."""
        self._items.extend(items)
        return len(self._items)

    def append(self, item: Any) -> None:
        """Append one item (Python spelling)."""
        self._items.append(item)

    def extend(self, items: Iterable[Any]) -> None:
        """Append every item of ``items``."""
        self._items.extend(items)

    def pop(self, index: int = -1) -> Any:
        """Remove and return an item (the last by default)."""
        return self._items.pop(index)

    def index(self, value: Any) -> int:
        """Position of ``value``; ``ValueError`` if absent."""
        return self._items.index(value)

    def count(self, value: Any) -> int:
        """How often ``value`` occurs."""
        return self._items.count(value)

    def includes(self, value: Any) -> bool:
        """Whether ``value`` occurs."""
        return value in self._items

    def join(self, separator: str = ",") -> str:
        """Items as strings joined by ``separator``."""
        from cfemu._js import js_string

        return separator.join("" if v is None or v is jsnull else js_string(v) for v in self)

    def toString(self) -> str:
        """``String(array)``: the items joined by commas."""
        return self.join(",")

    def to_py(self, *, depth: int = -1, default_converter: Callable[..., Any] | None = None) -> Any:
        """The array as a ``list``."""
        return [to_py(v, depth - 1, default_converter) for v in self._items]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [js_value(v) for v in self._items[index]]
        return js_value(self._items[index])

    def __setitem__(self, index: Any, value: Any) -> None:
        self._items[index] = value

    def __delitem__(self, index: Any) -> None:
        del self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return iter([js_value(v) for v in self._items])

    def __reversed__(self) -> Iterator[Any]:
        return iter(self._items[::-1])

    def __contains__(self, value: object) -> bool:
        return value in self._items


class JsMap(JsProxy):
    """A JavaScript ``Map`` (also what ``to_js(dict)`` gives): a mutable mapping.

    String keys also read as attributes, as Pyodide's "LiteralMap" allows.
    """

    __slots__ = ("_m",)
    js_class = "Map"

    def __init__(self, entries: Any = None) -> None:
        if entries is None:
            entries = {}
        object.__setattr__(self, "_m", dict(entries))

    def __getattr__(self, name: str) -> Any:
        m = object.__getattribute__(self, "_m")
        key = js_name(name)
        if key in m:
            return m[key]
        raise AttributeError(name)

    def _props(self) -> dict[str, Any]:
        props: dict[str, Any] = object.__getattribute__(self, "_m")
        return props

    @property
    def size(self) -> int:
        """Number of entries."""
        return len(self._props())

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of ``key`` (``default``, JavaScript ``undefined``, when absent)."""
        return self._props().get(key, default)

    def set(self, key: Any, value: Any) -> JsMap:
        """Set ``key``; returns the map."""
        self._props()[key] = value
        return self

    def has(self, key: Any) -> bool:
        """Whether ``key`` is present."""
        return key in self._props()

    def delete(self, key: Any) -> bool:
        """Remove ``key``; whether it was present."""
        return self._props().pop(key, _MISSING) is not _MISSING

    def keys(self) -> Iterator[Any]:
        """The keys."""
        return iter(list(self._props()))

    def values(self) -> Iterator[Any]:
        """The values."""
        return iter(list(self._props().values()))

    def items(self) -> Iterator[tuple[Any, Any]]:
        """``(key, value)`` pairs (Python spelling)."""
        return iter(list(self._props().items()))

    def entries(self) -> Iterator[JsArray]:
        """``[key, value]`` arrays (JavaScript spelling)."""
        return iter([JsArray([k, v]) for k, v in self._props().items()])

    def to_py(self, *, depth: int = -1, default_converter: Callable[..., Any] | None = None) -> Any:
        """The map as a ``dict``."""
        return {
            to_py(k, depth - 1): to_py(v, depth - 1, default_converter)
            for k, v in self._props().items()
        }

    def __getitem__(self, key: Any) -> Any:
        return self._props()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._props()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._props()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._props()

    def __len__(self) -> int:
        return len(self._props())

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._props()))


class JsSet(JsProxy):
    """A JavaScript ``Set``."""

    __slots__ = ("_s",)
    js_class = "Set"

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._s = dict.fromkeys(items)

    @property
    def size(self) -> int:
        """Number of items."""
        return len(self._s)

    def add(self, item: Any) -> JsSet:
        """Add ``item``; returns the set."""
        self._s[item] = None
        return self

    def has(self, item: Any) -> bool:
        """Whether ``item`` is present."""
        return item in self._s

    def delete(self, item: Any) -> bool:
        """Remove ``item``; whether it was present."""
        return self._s.pop(item, _MISSING) is not _MISSING

    def to_py(self, *, depth: int = -1, default_converter: Callable[..., Any] | None = None) -> Any:
        """The set as a Python ``set``."""
        return {to_py(v, depth - 1) for v in self._s}

    def __contains__(self, item: object) -> bool:
        return item in self._s

    def __len__(self) -> int:
        return len(self._s)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._s))


_MISSING = object()


class JsBuffer(JsProxy):
    """An ``ArrayBuffer`` or a typed array view (``Uint8Array``) over bytes.

    A ``Uint8Array`` made from an ``ArrayBuffer`` shares its memory, as in JavaScript.
    """

    __slots__ = ("_data", "_kind", "_length", "_offset")
    __cfemu_body__ = True  # a Response/Request body (cfemu.runtime.http)

    def __init__(
        self, data: bytearray, kind: str = "Uint8Array", offset: int = 0, length: int | None = None
    ) -> None:
        self._data = data
        self._kind = kind
        self._offset = offset
        self._length = len(data) - offset if length is None else length

    @property
    def constructor(self) -> JsObject:
        """The constructor (``.name`` is ``ArrayBuffer`` or ``Uint8Array``)."""
        return JsObject(name=self._kind)

    def toString(self) -> str:
        """``String(buffer)``."""
        if self._kind == "ArrayBuffer":
            return "[object ArrayBuffer]"
        return ",".join(str(b) for b in self._view())

    def _view(self) -> memoryview:
        return memoryview(self._data)[self._offset : self._offset + self._length]

    @property
    def byteLength(self) -> int:
        """Size in bytes."""
        return self._length

    @property
    def length(self) -> int:
        """Number of elements (bytes)."""
        return self._length

    @property
    def byteOffset(self) -> int:
        """Offset of this view in its buffer."""
        return self._offset

    @property
    def buffer(self) -> JsBuffer:
        """The ``ArrayBuffer`` this view looks at."""
        if self._kind == "ArrayBuffer":
            raise AttributeError("buffer")
        return JsBuffer(self._data, "ArrayBuffer")

    def to_bytes(self) -> bytes:
        """A copy of the contents as ``bytes``."""
        return bytes(self._view())

    def to_memoryview(self) -> memoryview:
        """A copy of the contents as a ``memoryview``."""
        return memoryview(self.to_bytes())

    def to_string(self, encoding: str | None = None) -> str:
        """The contents decoded (UTF-8 unless ``encoding`` says otherwise)."""
        return self.to_bytes().decode(encoding or "utf-8")

    def to_py(self, *, depth: int = -1, default_converter: Callable[..., Any] | None = None) -> Any:
        """The contents as a ``memoryview`` (a copy)."""
        return self.to_memoryview()

    def assign(self, source: Any) -> None:
        """Copy ``source`` (a bytes-like object of the same length) into this buffer."""
        data = bytes(source)
        if len(data) != self._length:
            raise ValueError("Source and destination must have the same length")
        self._view()[:] = data

    def assign_to(self, target: Any) -> None:
        """Copy this buffer into ``target`` (a writable bytes-like object of the same size)."""
        view = memoryview(target).cast("B")
        if len(view) != self._length:
            raise ValueError("Source and destination must have the same length")
        view[:] = self._view()

    def slice(self, start: int = 0, end: int | None = None) -> JsBuffer:
        """A copy of part of the buffer, of the same kind."""
        return JsBuffer(bytearray(self._view()[start:end]), self._kind)

    def subarray(self, start: int = 0, end: int | None = None) -> JsBuffer:
        """A view of part of this array, sharing its memory."""
        lo, hi, _ = slice(start, end).indices(self._length)
        return JsBuffer(self._data, self._kind, self._offset + lo, max(0, hi - lo))

    def set(self, source: Iterable[int], offset: int = 0) -> None:
        """Copy ``source`` into this array at ``offset``."""
        values = bytes(source.to_bytes() if isinstance(source, JsBuffer) else source)
        self._view()[offset : offset + len(values)] = values

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: Any) -> Any:
        if self._kind == "ArrayBuffer":
            raise TypeError("'JsProxy' object is not subscriptable")
        return self._view()[index]

    def __setitem__(self, index: int, value: int) -> None:
        self._view()[index] = value & 0xFF

    def __iter__(self) -> Iterator[int]:
        return iter(self.to_bytes())

    def __bytes__(self) -> bytes:
        return self.to_bytes()
