"""Cron expressions of ``[triggers] crons``: parsing and the next fire time (UTC).

Cloudflare's cron triggers use five fields (minute, hour, day of month, month, day of week),
evaluated in UTC, with ``*``, lists, ranges, steps, month and weekday names and ``L`` (last day
of the month; ``6L`` or ``FRIL`` in the weekday field: the month's last Friday). Weekdays are
numbered the Quartz way, as Cloudflare documents them: ``1`` = Sunday ... ``7`` = Saturday, so
``0 17 * * 1`` is Sunday 17:00 and ``mon-fri`` is ``2-6`` (``0`` is rejected rather than guessed).
cfemu supports all of these except ``W`` and ``#``, which raise a clear error. An expression
that can never fire (``0 0 30 2 *``) is an error too.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cfemu.errors import ConfigError

__all__ = ["CronSchedule", "parse_cron"]

_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {d.upper(): (i + 1) % 7 + 1 for i, d in enumerate(calendar.day_abbr)}  # SUN=1 ... SAT=7
_MAX_DIGITS = 9
_WEEKDAY_HINT = " (Cloudflare numbers weekdays from 1 = SUN to 7 = SAT)"
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 1, 7, _DAYS),
)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression; :meth:`next_after` gives its next fire time."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    last_day: bool
    days_any: bool
    weekdays_any: bool
    #: Weekdays written ``<d>L``: the last such weekday of the month.
    last_weekdays: frozenset[int] = frozenset()

    def _day_matches(self, day: datetime) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        dom = day.day in self.days or (self.last_day and day.day == last)
        weekday = day.isoweekday() % 7 + 1  # Cloudflare's numbering: Sunday = 1
        dow = weekday in self.weekdays or (weekday in self.last_weekdays and day.day + 7 > last)
        if self.days_any and self.weekdays_any:
            return True
        if self.days_any:
            return dow
        if self.weekdays_any:
            return dom
        return dom or dow  # classic cron: either field restricts when both are set

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after ``moment`` (aware UTC datetime)."""
        t = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        # Nine years of days: the longest wait, for "29 2", is eight years (2096 → 2104).
        for _ in range(366 * 9):
            if t.month not in self.months or not self._day_matches(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            for hour in sorted(h for h in self.hours if h >= t.hour):
                start = t.minute if hour == t.hour else 0
                for minute in sorted(m for m in self.minutes if m >= start):
                    return t.replace(hour=hour, minute=minute)
            t = (t + timedelta(days=1)).replace(hour=0, minute=0)
        raise ConfigError(f"cron {self.expression!r} never fires", key_path="triggers.crons")


def _parse_value(text: str, names: dict[str, int], field: str, expr: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not (text.isascii() and text.isdigit()):
        raise ConfigError(
            f"invalid {field} value {text!r} in cron {expr!r}", key_path="triggers.crons"
        )
    return _number(text)


def _number(digits: str) -> int:
    # Any value this long is out of every field's range; int() of a very long one would
    # raise ValueError (Python's limit on digits), so it is clamped instead.
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _parse_field(
    text: str, field: str, low: int, high: int, names: dict[str, int], expr: str
) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not (step_text.isascii() and step_text.isdigit()) or _number(step_text) == 0:
                raise ConfigError(
                    f"invalid step {step_text!r} in {field} of cron {expr!r}",
                    key_path="triggers.crons",
                )
            step = _number(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start = _parse_value(a, names, field, expr)
            end = _parse_value(b, names, field, expr)
        else:
            start = _parse_value(part, names, field, expr)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high):
            hint = _WEEKDAY_HINT if names is _DAYS else ""
            raise ConfigError(
                f"{field} {part!r} in cron {expr!r} must be within {low}-{high}{hint}",
                key_path="triggers.crons",
            )
        if start > end:
            raise ConfigError(
                f"{field} range {part!r} in cron {expr!r} must run from low to high",
                key_path="triggers.crons",
            )
        values.update(range(start, end + 1, step))
    return values


def parse_cron(expression: str) -> CronSchedule:
    """Parse a five-field cron expression; :class:`ConfigError` says what is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise ConfigError(
            f"cron {expression!r} must have 5 fields (minute hour day month weekday), "
            f"got {len(fields)}",
            key_path="triggers.crons",
        )
    parsed: list[set[int]] = []
    last_day = False
    last_weekdays: set[int] = set()
    for text, (field, low, high, names) in zip(fields, _FIELDS, strict=True):
        if (field == "day of month" and "W" in text.upper()) or "#" in text:
            raise ConfigError(
                f"cron {expression!r}: 'W' and '#' are not supported by cfemu",
                key_path="triggers.crons",
            )
        if field == "day of month" and "L" in text.upper():
            last_day = True
            rest = ",".join(p for p in text.upper().split(",") if p != "L")
            parsed.append(
                _parse_field(rest, field, low, high, names, expression) if rest else set()
            )
            continue
        if field == "day of week" and "L" in text.upper():
            # "6L" / "FRIL": the last Friday of the month (a "<weekday>L" list item).
            plain = []
            for item in text.upper().split(","):
                if item.endswith("L") and len(item) > 1:
                    last_weekdays |= _parse_field(item[:-1], field, low, high, names, expression)
                else:
                    plain.append(item)
            parsed.append(
                _parse_field(",".join(plain), field, low, high, names, expression)
                if plain
                else set()
            )
            continue
        parsed.append(_parse_field(text, field, low, high, names, expression))
    weekdays = parsed[4]
    days_any = fields[2] in ("*", "?")
    weekdays_any = fields[4] in ("*", "?")
    if (
        weekdays_any
        and not days_any
        and not last_day
        and not _some_day_exists(parsed[2], parsed[3])
    ):
        raise ConfigError(
            f"cron {expression!r} never fires: no month in it has that day",
            key_path="triggers.crons",
        )
    return CronSchedule(
        expression=expression,
        minutes=frozenset(parsed[0]),
        hours=frozenset(parsed[1]),
        days=frozenset(parsed[2]),
        months=frozenset(parsed[3]),
        weekdays=frozenset(weekdays),
        last_day=last_day,
        days_any=days_any,
        weekdays_any=weekdays_any,
        last_weekdays=frozenset(last_weekdays),
    )


#: The most days each month ever has (February: 29, in leap years).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _some_day_exists(days: set[int], months: set[int]) -> bool:
    return any(day <= _MONTH_DAYS[month - 1] for month in months for day in days)
