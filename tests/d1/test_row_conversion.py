"""Column-wise row conversion gives exactly what the value-by-value converter gave.

``cfemu.d1.values`` converts a result set column by column (one decision per column type,
value by value only where a column mixes types). The value-by-value converter it replaced
lives on here, unchanged, as the reference: on random rows of mixed types the two must
agree to the type of every value (``1`` is not ``1.0``, ``0`` is not ``-0.0``).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfemu._js import JsDict
from cfemu.d1 import open_database
from cfemu.d1.values import MAX_SAFE_INTEGER, row_builder, row_lists, row_object, row_objects

pytestmark = pytest.mark.anyio

SqlValue = int | float | str | bytes | None


# --- the reference: the converter as it was before the column-wise one ----------------
def old_from_sql(value: SqlValue) -> Any:
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


def old_row_from_sql(row: tuple[SqlValue, ...]) -> list[Any] | tuple[SqlValue, ...]:
    out: list[Any] | None = None
    for index, value in enumerate(row):
        kind = type(value)
        if kind is str or value is None:
            continue
        if kind is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:  # type: ignore[operator]
            continue
        if kind is float and not value.is_integer():  # type: ignore[union-attr]
            continue
        if out is None:
            out = list(row)
        out[index] = old_from_sql(value)
    return row if out is None else out


def old_row_objects(names: list[str], rows: list[tuple[SqlValue, ...]]) -> list[JsDict]:
    return [JsDict(zip(names, old_row_from_sql(row), strict=True)) for row in rows]


def old_row_lists(rows: list[tuple[SqlValue, ...]]) -> list[list[Any]]:
    return [[old_from_sql(v) for v in row] for row in rows]


# --- random result sets ---------------------------------------------------------------
BIG = 2**53
edges = st.sampled_from(
    [BIG - 1, BIG, BIG + 1, -(BIG - 1), -BIG, -BIG - 1, 2**63 - 1, -(2**63), 0, 1, -1]
)
integers = st.one_of(edges, st.integers(-(2**63), 2**63 - 1), st.integers(-1000, 1000))
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**60), 2**60).map(float),  # integer-valued, some beyond 2**53
    edges.map(float),
    st.sampled_from([0.0, -0.0, 0.5, -1.5, 1e300, float("inf"), float("-inf")]),
)
whole_floats = st.one_of(edges, edges, st.integers(-(2**60), 2**60)).map(float)
surrogate = st.integers(0xD800, 0xDFFF).map(chr)
texts = st.lists(st.one_of(st.text(max_size=4), surrogate), max_size=4).map("".join)
blobs = st.binary(max_size=6)
scalar = st.one_of(st.none(), integers, floats, texts, blobs)
# A column is all one type (whole_floats: every value integer-valued), one type with NULLs,
# or anything at all.
typed = [integers, floats, whole_floats, texts, blobs]
column_kinds = st.one_of(
    st.sampled_from([*typed, st.none()]),
    st.sampled_from(typed).map(lambda kind: st.one_of(st.none(), kind)),
    st.just(scalar),
)


@st.composite
def result_sets(draw: st.DrawFn) -> tuple[list[str], list[tuple[SqlValue, ...]]]:
    width = draw(st.integers(1, 5))
    kinds = [draw(column_kinds) for _ in range(width)]
    count = draw(st.integers(0, 12))
    rows = [tuple(draw(kind) for kind in kinds) for _ in range(count)]
    names = [draw(st.sampled_from(["a", "b", "c", "id"])) for _ in range(width)]  # duplicates
    return names, rows


def same(new: Any, old: Any) -> None:
    """Equal down to the type of every value (repr tells 1 from 1.0 and 0.0 from -0.0)."""
    assert repr(new) == repr(old)
    assert [type(row) for row in new] == [type(row) for row in old]
    for new_row, old_row in zip(new, old, strict=True):
        values = new_row.values() if isinstance(new_row, dict) else new_row
        olds = old_row.values() if isinstance(old_row, dict) else old_row
        assert [type(v) for v in values] == [type(v) for v in olds]


@given(result=result_sets())
@settings(max_examples=400, deadline=None)
def test_column_wise_conversion_equals_the_value_by_value_reference(
    result: tuple[list[str], list[tuple[SqlValue, ...]]],
) -> None:
    names, rows = result
    description = tuple((name, None, None, None, None, None, None) for name in names)
    same(row_objects(description, rows), old_row_objects(names, rows))
    same(row_lists(rows), old_row_lists(rows))
    build = row_builder(names)
    for row in rows:
        same([row_object(names, row)], old_row_objects(names, [row]))
        same([build(row)], old_row_objects(names, [row]))


@given(
    names=st.lists(st.one_of(st.text(max_size=3), st.sampled_from(["a", "id"])), max_size=70),
    data=st.data(),
)
@settings(max_examples=150, deadline=None)
def test_a_row_builder_of_any_width_and_names_equals_the_reference(
    names: list[str], data: st.DataObject
) -> None:
    """``first()``'s generated builders (up to 64 columns; wider rows, and no columns,
    fall back to :func:`row_object`): any names, duplicates and odd text included."""
    build = row_builder(names)
    for _ in range(3):
        row = tuple(data.draw(scalar) for _ in names)
        same([build(row)], old_row_objects(names, [row]))


@given(result=result_sets())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
async def test_every_read_path_converts_as_the_reference_on_rows_sqlite_returns(
    result: tuple[list[str], list[tuple[SqlValue, ...]]],
) -> None:
    """Through SQLite: all(), run(), raw(), first() and batch() of random untyped rows."""
    _, rows = result
    width = len(rows[0]) if rows else 1
    columns = ", ".join(f"c{i}" for i in range(width))
    db = open_database(None)
    try:
        engine = db._engine
        engine.trusted(f"CREATE TABLE t (id INTEGER PRIMARY KEY, {columns})")
        holes = ", ".join("?" * width)
        for row in rows:
            # Straight into SQLite: bind() would turn infinities into NULL. Text with lone
            # surrogates cannot be encoded as UTF-8, so they are stored as "?".
            stored = [v.encode("utf-8", "replace").decode() if isinstance(v, str) else v
                      for v in row]  # fmt: skip
            stored = [None if isinstance(v, float) and math.isnan(v) else v for v in stored]
            engine.trusted(f"INSERT INTO t ({columns}) VALUES ({holes})", stored)
        select = f"SELECT {columns} FROM t ORDER BY id"
        fetched = engine.trusted(select)
        names = [f"c{i}" for i in range(width)]
        expected = old_row_objects(names, fetched)
        same((await db.prepare(select).all()).results, expected)
        same((await db.prepare(select).run()).results, expected)
        same((await db.batch([db.prepare(select)]))[0].results, expected)
        same(await db.prepare(select).raw(), old_row_lists(fetched))
        first = await db.prepare(select).first()
        same([first] if first is not None else [], expected[:1])
    finally:
        db.close()
