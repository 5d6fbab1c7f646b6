"""D1's type conversions, both ways (spec: d1.md §4; docs/d1.md "Types")."""

from __future__ import annotations

import enum
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfemu.d1 import D1Database, open_database
from cfemu.d1.values import MAX_SAFE_INTEGER
from cfemu.errors import D1Error, D1TypeError

pytestmark = pytest.mark.anyio


async def _roundtrip(db: D1Database, value: Any) -> Any:
    """Store ``value`` in an untyped column (no affinity) and read it back."""
    await db.exec("CREATE TABLE IF NOT EXISTS v (x)")
    await db.exec("DELETE FROM v")
    await db.prepare("INSERT INTO v (x) VALUES (?)").bind(value).run()
    return await db.prepare("SELECT x FROM v").first("x")


class Color(enum.IntEnum):
    RED = 1


class Name(str):
    pass


@pytest.mark.parametrize(
    ("value", "expected", "sql_type"),
    [
        (None, None, "null"),
        (True, 1, "integer"),
        (False, 0, "integer"),
        (42, 42, "integer"),
        (-(2**63), float(-(2**63)), "integer"),
        (1.5, 1.5, "real"),
        (2.0, 2, "real"),  # a JavaScript number that is an integer arrives as int
        (float("nan"), None, "null"),  # JSON carries NaN and Infinity as null
        (float("inf"), None, "null"),
        ("héllo", "héllo", "text"),
        ("", "", "text"),
        (b"\x00\xff", [0, 255], "blob"),
        (memoryview(b"xyz"), [120, 121, 122], "blob"),
        ([1, 2, 255], [1, 2, 255], "blob"),
        ([], [], "blob"),
        (Color.RED, 1, "integer"),
        (Name("sub"), "sub", "text"),
    ],
)
async def test_bind_values_are_stored_and_read_back_as_on_cloudflare(
    db: D1Database, value: Any, expected: Any, sql_type: str
) -> None:
    await db.exec("CREATE TABLE v (x)")
    await db.prepare("INSERT INTO v (x) VALUES (?)").bind(value).run()
    row = await db.prepare("SELECT x, typeof(x) AS t FROM v").first()
    assert row == {"x": expected, "t": sql_type}
    assert type(row["x"]) is type(expected)


async def test_integers_beyond_53_bits_are_stored_exactly_but_read_as_floats(
    db: D1Database,
) -> None:
    big = 2**60 + 1
    await db.exec("CREATE TABLE v (x)")
    await db.prepare("INSERT INTO v (x) VALUES (?)").bind(big).run()
    assert await db.prepare("SELECT x = ? AS same FROM v").bind(big).first("same") == 1
    assert await db.prepare("SELECT x FROM v").first("x") == float(big)
    assert await db.prepare("SELECT ? AS x").bind(MAX_SAFE_INTEGER).first("x") == MAX_SAFE_INTEGER


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": 1}, "Type 'object' not supported for value '[object Object]'"),
        ({1, 2}, "Type 'object' not supported for value '[object Object]'"),
        (object(), "Type 'object' not supported for value '[object Object]'"),
        (2**63, f"Type 'bigint' not supported for value '{2**63}'"),
        (-(2**63) - 1, f"Type 'bigint' not supported for value '{-(2**63) - 1}'"),
        ([1, 256], "Type 'object' not supported for value '1,256'"),
        ([1, -1], "Type 'object' not supported for value '1,-1'"),
        ([True], "Type 'object' not supported for value 'true'"),
        (["a"], "Type 'object' not supported for value 'a'"),
        ([[1]], "Type 'object' not supported for value '1'"),
    ],
)
async def test_unsupported_values_raise_d1_type_error_at_bind(
    db: D1Database, value: Any, message: str
) -> None:
    stmt = db.prepare("SELECT ?")
    with pytest.raises(D1TypeError) as info:
        stmt.bind(value)
    assert str(info.value) == f"D1_TYPE_ERROR: {message}"
    assert info.value.code == "D1_TYPE_ERROR"
    assert isinstance(info.value, D1Error)


def test_a_function_value_is_described_like_javascript(db: D1Database) -> None:
    def handler() -> None:
        pass

    with pytest.raises(D1TypeError, match="Type 'function' not supported for value 'function"):
        db.prepare("SELECT ?").bind(handler)


async def test_lone_surrogates_become_replacement_characters(db: D1Database) -> None:
    assert await _roundtrip(db, "a\ud800b") == "a\ufffdb"


async def test_text_with_nul_characters_round_trips(db: D1Database) -> None:
    assert await _roundtrip(db, "a\x00b") == "a\x00b"


# --- properties -----------------------------------------------------------------------------
def expected_back(value: Any) -> Any:
    """What D1 gives back for a bound value: its documented conversions."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
            return int(value)
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INTEGER else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return list(bytes(value))
    if isinstance(value, list):
        return [int(b) for b in value]
    return value


supported = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    st.binary(max_size=50),
    st.lists(st.integers(0, 255), max_size=20),
)
anything = st.one_of(
    supported,
    st.integers(),
    st.tuples(st.integers()),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sets(st.integers(), max_size=3),
    st.lists(st.one_of(st.integers(-300, 300), st.floats(), st.text(max_size=2)), max_size=5),
    st.builds(object),
    st.complex_numbers(allow_nan=False),
)
rows = st.lists(st.lists(supported, min_size=3, max_size=3), min_size=1, max_size=8)


@given(rows=rows)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
async def test_random_rows_round_trip_modulo_documented_conversions(
    rows: list[list[Any]],
) -> None:
    db = open_database(None)
    try:
        await db.exec("CREATE TABLE r (id INTEGER PRIMARY KEY, a, b, c)")
        insert = db.prepare("INSERT INTO r (a, b, c) VALUES (?, ?, ?)")
        await db.batch([insert.bind(*row) for row in rows])
        got = await db.prepare("SELECT a, b, c FROM r ORDER BY id").raw()
        assert got == [[expected_back(v) for v in row] for row in rows]
        objects = (await db.prepare("SELECT a, b, c FROM r ORDER BY id").all()).results
        assert [[o.a, o.b, o.c] for o in objects] == got
    finally:
        db.close()


@pytest.mark.parametrize("value", [(1, 2), bytearray(b"ab"), [1, (2,)]])
def test_tuples_and_bytearrays_are_refused_as_the_python_sdk_refuses_them(
    db: D1Database, value: Any
) -> None:
    with pytest.raises(TypeError) as info:
        db.prepare("SELECT ?").bind(1, value)
    inner = value[1] if isinstance(value, list) else value
    assert str(info.value) == f"{type(inner)} cannot be sent over RPC."
    assert not isinstance(info.value, D1TypeError)  # the SDK's error, before D1 sees it


@given(value=anything)
@settings(max_examples=150, deadline=None)
async def test_any_bind_value_round_trips_or_raises_d1_type_error(value: Any) -> None:
    db = open_database(None)
    try:
        try:
            stmt = db.prepare("SELECT ? AS x").bind(value)
        except D1TypeError as exc:
            assert str(exc).startswith("D1_TYPE_ERROR: Type '")
            return
        except TypeError as exc:  # the Python SDK's refusal of a tuple (spec §2.2)
            assert isinstance(value, tuple) and "cannot be sent over RPC." in str(exc)
            return
        assert await stmt.first("x") == expected_back(value)
    finally:
        db.close()
