"""The ``v8`` content type's stored form: structured-clone values as data, never pickle."""

from __future__ import annotations

import enum
import math
import pickle
import re
from collections import OrderedDict
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfemu.queues._v8 import MAGIC, MAX_DEPTH, V8DecodeError, V8EncodeError, dumps, loads

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=40)
    | st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones())
    | st.dates()
    | st.times(timezones=st.none() | st.just(timezone(timedelta(hours=-3), "X")))
    | st.timedeltas()
    | st.decimals(allow_nan=False)
    | st.complex_numbers(allow_nan=False)
)
hashables = st.recursive(
    scalars.filter(lambda v: not isinstance(v, datetime | time) or v.tzinfo is None)
    | st.integers(),
    lambda children: st.tuples(children, children) | st.frozensets(children, max_size=3),
    max_leaves=6,
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(hashables, children, max_size=5)
        | st.sets(hashables, max_size=4)
        | st.builds(bytearray, st.binary(max_size=10))
    ),
    max_leaves=25,
)


@given(values)
def test_every_structured_clone_value_round_trips_with_its_type(value: Any) -> None:
    copy = loads(dumps(value))
    assert copy == value
    assert type(copy) is type(value)


def test_floats_keep_their_bits() -> None:
    copy = loads(dumps([float("nan"), float("inf"), -0.0]))
    assert math.isnan(copy[0]) and copy[1] == math.inf
    assert math.copysign(1, copy[2]) == -1


def test_lone_surrogates_and_big_integers() -> None:
    assert loads(dumps(["a\ud800", 2**1000, -(2**65)])) == ["a\ud800", 2**1000, -(2**65)]


def test_time_zones_are_kept() -> None:
    paris = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris"))
    named = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30), "IST"))
    [a, b, c] = loads(dumps([paris, named, datetime(2026, 1, 1, tzinfo=UTC)]))
    assert (a, a.fold, a.tzinfo) == (paris, 1, ZoneInfo("Europe/Paris"))
    assert (b.tzname(), b.utcoffset()) == ("IST", timedelta(hours=5, minutes=30))
    assert c.tzinfo is UTC


def test_regular_expressions_are_kept() -> None:
    copy = loads(dumps(re.compile(r"a+b", re.IGNORECASE)))
    assert (copy.pattern, copy.flags & re.IGNORECASE) == ("a+b", re.IGNORECASE)


def test_shared_references_and_cycles_are_kept_as_a_structured_clone_keeps_them() -> None:
    shared: list[Any] = [1]
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic
    buffer = bytearray(b"x")
    copy = loads(dumps({"a": shared, "b": shared, "c": cyclic, "d": (buffer, buffer)}))
    assert copy["a"] is copy["b"] and copy["a"] == [1]
    assert copy["c"]["self"] is copy["c"]
    assert copy["d"][0] is copy["d"][1]
    assert copy["a"] is not shared


def test_subclasses_arrive_as_their_base_type_as_a_clone_loses_its_prototype() -> None:
    class Color(enum.IntEnum):
        RED = 1

    copy = loads(dumps([Color.RED, OrderedDict(a=1)]))
    assert copy == [1, {"a": 1}]
    assert type(copy[0]) is int and type(copy[1]) is dict


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (lambda: 1, "function object could not be cloned"),
        (object(), "object object could not be cloned"),
        ({"k": Path("x")}, "PosixPath object could not be cloned|WindowsPath"),
        (re.compile(b"x"), "bytes regular expression"),
    ],
)
def test_values_a_structured_clone_cannot_carry_are_refused(value: Any, message: str) -> None:
    with pytest.raises(V8EncodeError, match=message):
        dumps(value)


def test_a_cycle_through_a_tuple_is_refused_not_looped() -> None:
    inner: list[Any] = []
    outer = (inner,)
    inner.append(outer)
    with pytest.raises(V8EncodeError, match="cycle through a tuple"):
        dumps(outer)
    assert loads(dumps(inner))[0][0][0] is not None  # from the list side it is fine


def test_depth_is_bounded_both_ways() -> None:
    deep: list[Any] = []
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(V8EncodeError, match="nested deeper"):
        dumps(deep)
    crafted = MAGIC + b"l\x01" * (MAX_DEPTH + 5) + b"l\x00"
    with pytest.raises(V8DecodeError, match="nested deeper"):
        loads(crafted)


class _RunsCode:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (exec, ("raise SystemExit('pickle ran code')",))


def test_a_pickle_is_never_unpickled() -> None:
    payload = pickle.dumps(_RunsCode(), protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(V8DecodeError, match="stored as a pickle by an older cfemu"):
        loads(payload)
    with pytest.raises(V8DecodeError, match="not a cfemu v8 body"):
        loads(b"cos\nsystem\n(S'true'\ntR.")  # protocol 0


@given(st.binary(max_size=60))
def test_arbitrary_bytes_decode_to_a_value_or_a_clear_error(data: bytes) -> None:
    try:
        loads(MAGIC + data)
    except V8DecodeError as exc:
        assert "v8 body" in str(exc)


@given(values, st.data())
def test_truncated_or_damaged_bodies_are_a_clear_error(value: Any, data: st.DataObject) -> None:
    encoded = dumps(value)
    cut = data.draw(st.integers(len(MAGIC), len(encoded) - 1))
    with pytest.raises(V8DecodeError):
        loads(encoded[:cut])
    assert loads(encoded) == value or value != value


def test_plain_date_time_and_decimal_values() -> None:
    value = (date(2026, 2, 3), time(4, 5, 6, 7), Decimal("1.10"), complex(1, -2))
    copy = loads(dumps(value))
    assert copy == value and str(copy[2]) == "1.10"
