"""D1's value conversions, both ways (spec: d1.md §4).

Python → SQLite (``bind``): what Cloudflare's Python SDK and D1's client accept, converted
the way they convert it on the way to the database. Anything else raises
``D1_TYPE_ERROR: Type '<typeof>' not supported for value '<String(value)>'``.

SQLite → Python (results): what a Python Worker receives on Cloudflare, where every value
travels as a JavaScript value and reaches Python through Pyodide's conversion: numbers
that are safe integers arrive as ``int`` (so a REAL ``2.0`` arrives as ``2``), other
numbers as ``float`` (so an INTEGER beyond ±(2**53 - 1) loses precision), BLOBs as
``list[int]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import repeat
from operator import itemgetter
from typing import Any, Final, TypeAlias

from cfemu._js import JsDict, js_string, js_typeof
from cfemu.errors import D1TypeError
from cfemu.limits import D1_MAX_INTEGER, D1_MIN_INTEGER

__all__ = [
    "MAX_SAFE_INTEGER",
    "NAME",
    "RowBuilder",
    "SqlValue",
    "column_names",
    "from_sql",
    "row_builder",
    "row_lists",
    "row_object",
    "row_objects",
    "to_sql",
    "to_sql_params",
]

#: A value as handed to SQLite.
SqlValue: TypeAlias = int | float | str | bytes | None

#: A result row and a result set as ``sqlite3`` returns them.
Rows: TypeAlias = list[tuple[SqlValue, ...]]

#: JavaScript's ``Number.MAX_SAFE_INTEGER``.
MAX_SAFE_INTEGER = 2**53 - 1
#: Result sets with at least this many rows are converted column by column; smaller ones
#: value by value (deciding per column costs a few C calls per column).
_COLUMNWISE_FROM: Final = 6
_NONE: Final = type(None)
#: A column's name in a ``sqlite3`` cursor description.
NAME: Final = itemgetter(0)
#: Makes one result row a ``JsDict`` (see :func:`row_builder`).
RowBuilder: TypeAlias = Callable[[tuple[SqlValue, ...]], JsDict]
#: Results with more columns than this get no built function (:func:`row_builder`).
_BUILT_COLUMNS_MAX: Final = 64
#: Generated factories of row builders, by column count.
_factories: dict[int, Callable[..., RowBuilder]] = {}


def _type_error(value: object) -> D1TypeError:
    return D1TypeError(f"Type '{js_typeof(value)}' not supported for value '{js_string(value)}'")


def _byte_list(value: list[Any]) -> bytes | None:
    """A list of numbers 0 <= n < 256 is a BLOB (D1's client checks exactly that)."""
    out = bytearray()
    for item in value:
        if type(item) is bool or not isinstance(item, int | float):
            return None
        if not 0 <= item < 256:  # also rejects NaN
            return None
        out.append(int(item))
    return bytes(out)


def to_sql(value: object) -> SqlValue:
    """Convert one ``bind`` value for SQLite, or raise :class:`~cfemu.errors.D1TypeError`.

    ``None`` → NULL; ``bool`` → 1/0; ``int`` (signed 64-bit) → INTEGER; ``float`` → REAL,
    except NaN and ±Infinity, which JSON carries as ``null`` → NULL; ``str`` → TEXT;
    ``bytes``/``bytearray``/``memoryview`` and lists of numbers 0..255 → BLOB.
    """
    kind = type(value)
    if kind is str or value is None:
        return value  # type: ignore[return-value]
    if kind is int:
        if D1_MIN_INTEGER <= value <= D1_MAX_INTEGER:  # type: ignore[operator]
            return value  # type: ignore[return-value]
        raise _type_error(value)
    if kind is float:
        return value if math.isfinite(value) else None  # type: ignore[arg-type,return-value]
    if kind is bool:
        return 1 if value else 0
    return _to_sql_slow(value)


def _to_sql_slow(value: object) -> SqlValue:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, list):
        blob = _byte_list(value)
        if blob is not None:
            return blob
        raise _type_error(value)
    # Subclasses cross Pyodide's FFI as their base JavaScript type.
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        return to_sql(int(value))
    if isinstance(value, float):
        return to_sql(float(value))
    if isinstance(value, str):
        return str.__str__(value)
    raise _type_error(value)


def to_sql_params(values: Sequence[object]) -> tuple[SqlValue, ...]:
    """Convert every ``bind`` value (see :func:`to_sql`)."""
    return tuple([to_sql(v) for v in values])


def from_sql(value: SqlValue) -> Any:
    """One SQLite value as a Python Worker receives it on Cloudflare (see module doc)."""
    kind = type(value)
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:  # type: ignore[operator]
            return value
        return float(value)  # type: ignore[arg-type]
    if kind is float:
        if value.is_integer() and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:  # type: ignore[union-attr,operator]
            return int(value)  # type: ignore[arg-type]
        return value
    if kind is bytes:
        return list(value)  # type: ignore[arg-type]
    return value


def _row(row: tuple[SqlValue, ...]) -> list[Any]:
    """One row with :func:`from_sql` applied, value by value (cheaper than
    :func:`_columns` for a few rows)."""
    out: list[Any] = list(row)
    for index, value in enumerate(row):
        kind = type(value)
        if kind is float:
            if value.is_integer() and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:  # type: ignore[union-attr,operator]
                out[index] = int(value)  # type: ignore[arg-type]
        elif kind is int:
            if value > MAX_SAFE_INTEGER or value < -MAX_SAFE_INTEGER:  # type: ignore[operator]
                out[index] = float(value)  # type: ignore[arg-type]
        elif kind is bytes:
            out[index] = list(value)  # type: ignore[arg-type]
    return out


def _converted(column: tuple[Any, ...]) -> list[Any] | None:
    """One column of a result set with :func:`from_sql` applied, or ``None`` when no value
    changes. SQLite is dynamically typed, so the column's types are looked at first (in C):
    a column of one type (NULLs aside) is decided as a whole, a column mixing types falls
    back to converting value by value."""
    kinds = set(map(type, column))
    nulls = _NONE in kinds
    if nulls:
        kinds.discard(_NONE)
    if len(kinds) != 1:
        return None if not kinds else list(map(from_sql, column))
    kind = kinds.pop()
    if kind is str:
        return None
    if kind is int:
        present = filter(None, column) if nulls else column  # 0 is safe: dropping it is fine
        low = min(present, default=0)
        present = filter(None, column) if nulls else column
        if low >= -MAX_SAFE_INTEGER and max(present, default=0) <= MAX_SAFE_INTEGER:
            return None
        return list(map(from_sql, column))
    if kind is float and not nulls:
        if not any(map(float.is_integer, column)):
            return None
        if (
            all(map(float.is_integer, column))  # so no NaN or infinity either
            and min(column) >= -MAX_SAFE_INTEGER
            and max(column) <= MAX_SAFE_INTEGER
        ):
            return list(map(int, column))
        return [
            int(v) if v.is_integer() and -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER else v
            for v in column
        ]
    if kind is bytes and not nulls:
        return list(map(list, column))
    return list(map(from_sql, column))


def _columns(rows: Rows) -> Iterable[Sequence[Any]]:
    """Every row with :func:`from_sql` applied, converted column by column (see
    :func:`_converted`); the rows themselves when nothing changes."""
    columns: list[Any] = list(zip(*rows, strict=True))
    changed = False
    for index, column in enumerate(columns):
        converted = _converted(column)
        if converted is not None:
            columns[index] = converted
            changed = True
    return zip(*columns, strict=True) if changed else rows


def column_names(description: Any) -> list[str]:
    """Column names from a ``sqlite3`` cursor description (``[]`` for no columns)."""
    return [] if description is None else list(map(NAME, description))


def row_object(names: Iterable[str], row: tuple[SqlValue, ...]) -> JsDict:
    """One row as a ``JsDict``. Duplicate column names collapse, the last one wins, as with
    JavaScript's ``Object.fromEntries`` in D1's client."""
    # The hot path of first(): one pass, a copy only when a value changes, no call per
    # value (:func:`_row` inlined). zip() without strict: the names come from the row's
    # own cursor, and a keyword argument would cost zip() more than the zipping.
    out: list[Any] | None = None
    index = -1
    for value in row:
        index += 1
        kind = type(value)
        if kind is float:
            if value.is_integer() and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:  # type: ignore[union-attr,operator]
                if out is None:
                    out = list(row)
                out[index] = int(value)  # type: ignore[arg-type]
        elif kind is int:
            if value > MAX_SAFE_INTEGER or value < -MAX_SAFE_INTEGER:  # type: ignore[operator]
                if out is None:
                    out = list(row)
                out[index] = float(value)  # type: ignore[arg-type]
        elif kind is bytes:
            if out is None:
                out = list(row)
            out[index] = list(value)  # type: ignore[arg-type]
    return JsDict(zip(names, row if out is None else out))  # noqa: B905


def _factory(width: int) -> Callable[..., RowBuilder]:
    """The factory of row builders for ``width`` columns: generated Python source, as
    ``collections.namedtuple`` and ``dataclasses`` generate theirs. Only identifiers and
    number literals enter the source; the column names reach the builder as the factory's
    arguments (closure cells), so no text from a query is ever compiled."""
    values = [f"c{i}" for i in range(width)]
    keys = [f"k{i}" for i in range(width)]
    lines = [
        f"def factory({', '.join(keys)}):",
        "    def build(row):",
        f"        {', '.join(values)}, = row",
    ]
    safe = MAX_SAFE_INTEGER
    for value in values:
        # from_sql() inline, value by value. An int is first compared with bounds small
        # enough for the interpreter's fast integer comparison.
        lines += [
            f"        kind = type({value})",
            "        if kind is int:",
            f"            if not -{2**30 - 1} <= {value} <= {2**30 - 1} "
            f"and not -{safe} <= {value} <= {safe}:",
            f"                {value} = float({value})",
            "        elif kind is float:",
            f"            if {value}.is_integer() and -{safe}.0 <= {value} <= {safe}.0:",
            f"                {value} = int({value})",
            "        elif kind is bytes:",
            f"            {value} = list({value})",
        ]
    pairs = ", ".join(f"{key}: {value}" for key, value in zip(keys, values, strict=True))
    lines += [f"        return JsDict({{{pairs}}})", "    return build"]
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), {"JsDict": JsDict}, namespace)
    factory: Callable[..., RowBuilder] = namespace["factory"]
    _factories[width] = factory
    return factory


def row_builder(names: Sequence[str]) -> RowBuilder:
    """A function making one row with these column names a ``JsDict``, exactly as
    :func:`row_object` does, at about half its cost: the names are bound once, and each
    value is converted inline (for up to 64 columns; wider rows get :func:`row_object`).

    For a query run again and again (``first()`` of one statement text): building the
    function costs about what converting one row does.
    """
    width = len(names)
    if not 0 < width <= _BUILT_COLUMNS_MAX:
        return partial(row_object, tuple(names))
    factory = _factories.get(width) or _factory(width)
    return factory(*names)


def row_objects(description: Any, rows: Rows) -> list[JsDict]:
    """Every row as a ``JsDict`` (see :func:`row_object`), converted column by column."""
    if not rows:
        return []
    names = column_names(description)
    if len(rows) < _COLUMNWISE_FROM:
        return [row_object(names, row) for row in rows]
    return list(map(JsDict, map(zip, repeat(names), _columns(rows))))


def row_lists(rows: Rows) -> list[list[Any]]:
    """Every row as a list of values (``raw()``), converted column by column."""
    if len(rows) < _COLUMNWISE_FROM:
        return [list(_row(row)) for row in rows]
    return list(map(list, _columns(rows)))
