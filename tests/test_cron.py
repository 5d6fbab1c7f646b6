"""Cron triggers: parsing and next fire times, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu.cron import parse_cron
from cfemu.errors import ConfigError

T0 = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("* * * * *", datetime(2026, 1, 1, 0, 1, tzinfo=UTC)),
        ("*/5 * * * *", datetime(2026, 1, 1, 0, 5, tzinfo=UTC)),
        ("30 9 * * *", datetime(2026, 1, 1, 9, 30, tzinfo=UTC)),
        ("0 0 * * MON", datetime(2026, 1, 5, 0, 0, tzinfo=UTC)),
        ("0 0 * * 0", datetime(2026, 1, 4, 0, 0, tzinfo=UTC)),
        ("0 0 * * 7", datetime(2026, 1, 4, 0, 0, tzinfo=UTC)),
        ("0 12 L * *", datetime(2026, 1, 31, 12, 0, tzinfo=UTC)),
        ("0 0 1 FEB *", datetime(2026, 2, 1, 0, 0, tzinfo=UTC)),
        ("15,45 1-2 * * WED", datetime(2026, 1, 7, 1, 15, tzinfo=UTC)),
    ],
)
def test_next_fire_time(expr: str, expected: datetime) -> None:
    assert parse_cron(expr).next_after(T0) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * * *", "must have 5 fields"),
        ("61 * * * *", "within 0-59"),
        ("* * * * 1#2", "not supported"),
        ("* * 15W * *", "not supported"),
        ("*/0 * * * *", "invalid step"),
        ("x * * * *", "invalid minute value"),
    ],
)
def test_bad_cron_is_a_config_error(expr: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_cron(expr)


@settings(max_examples=60, deadline=None)
@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    start=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
)
def test_next_fire_is_the_first_matching_minute_after(
    minute: int, hour: int, start: datetime
) -> None:
    schedule = parse_cron(f"{minute} {hour} * * *")
    fire = schedule.next_after(start)
    assert fire > start and (fire.minute, fire.hour) == (minute, hour)
    assert fire - start <= timedelta(days=1)
