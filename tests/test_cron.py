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
        # Cloudflare numbers weekdays 1-7 from Sunday ("0 17 * * sun or 0 17 * * 1").
        ("0 0 * * 1", datetime(2026, 1, 4, 0, 0, tzinfo=UTC)),
        ("0 0 * * sun", datetime(2026, 1, 4, 0, 0, tzinfo=UTC)),
        ("0 0 * * 7", datetime(2026, 1, 3, 0, 0, tzinfo=UTC)),
        ("10 7 * * 2-6", datetime(2026, 1, 1, 7, 10, tzinfo=UTC)),
        ("10 7 * * 7-7,mon-fri", datetime(2026, 1, 1, 7, 10, tzinfo=UTC)),
        ("0 12 L * *", datetime(2026, 1, 31, 12, 0, tzinfo=UTC)),
        ("0 0 1 FEB *", datetime(2026, 2, 1, 0, 0, tzinfo=UTC)),
        ("15,45 1-2 * * WED", datetime(2026, 1, 7, 1, 15, tzinfo=UTC)),
        ("0 18 * * 6L", datetime(2026, 1, 30, 18, 0, tzinfo=UTC)),  # the last Friday
        ("0 18 * * friL", datetime(2026, 1, 30, 18, 0, tzinfo=UTC)),
        ("0 0 * * MON,6L", datetime(2026, 1, 5, 0, 0, tzinfo=UTC)),
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
        ("\u00b2 * * * *", "invalid minute value"),  # "²".isdigit(), but not a number
        ("* * * * \u0661", "invalid day of week value"),  # an Arabic-Indic digit one
        ("0 0 * * FRI-MON", "must run from low to high"),
        ("0 0 * * 0", "must be within 1-7 .Cloudflare numbers weekdays from 1 = SUN to 7 = SAT"),
        ("0 0 30 2 *", "never fires"),
        ("9" * 5000 + " * * * *", "must be within 0-59"),  # int() alone would raise ValueError
        ("0 0 31 4,6,9,11 *", "never fires"),
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


def test_a_huge_step_is_just_the_start() -> None:
    assert parse_cron("1/" + "9" * 5000 + " * * * *").minutes == frozenset({1})


def test_leap_day_fires_even_across_the_eight_year_gap_of_2100() -> None:
    fire = parse_cron("0 0 29 2 *").next_after(datetime(2097, 3, 1, tzinfo=UTC))
    assert fire == datetime(2104, 2, 29, tzinfo=UTC)


def test_restricted_days_fire_when_the_weekday_field_allows_other_days() -> None:
    # Classic cron: with both day fields set, either one matching is enough.
    fire = parse_cron("0 0 30 2 MON").next_after(T0)
    assert fire == datetime(2026, 2, 2, tzinfo=UTC)  # the first Monday of February


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(st.sampled_from("0123456789*/,-LW#?JANMONSUN\u00b2 "), max_size=6),
            st.text(max_size=4),
        ),
        min_size=0,
        max_size=6,
    ).map(" ".join)
)
def test_any_text_parses_or_is_a_config_error(expression: str) -> None:
    try:
        schedule = parse_cron(expression)
    except ConfigError:
        return
    assert schedule.next_after(T0) > T0  # a cron that parses fires
