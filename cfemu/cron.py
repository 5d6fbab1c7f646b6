"""Cron expressions of ``[triggers] crons``: parsing and the next fire time (UTC).

Cloudflare's cron triggers use five fields (minute, hour, day of month, month, day of week),
evaluated in UTC, with ``*``, lists, ranges, steps, month and weekday names, ``L`` (last day of
month) and ``7`` as Sunday. cfemu supports all of these except ``W`` and ``#``, which raise a
clear error.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cfemu.errors import ConfigError

__all__ = ["CronSchedule", "parse_cron"]

_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {d.upper(): (i + 1) % 7 for i, d in enumerate(calendar.day_abbr)}  # SUN=0 ... SAT=6
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
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

    def _day_matches(self, day: datetime) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        dom = day.day in self.days or (self.last_day and day.day == last)
        dow = (day.isoweekday() % 7) in self.weekdays
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
        for _ in range(366 * 5):  # at most five years of days
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
    if not text.isdigit():
        raise ConfigError(
            f"invalid {field} value {text!r} in cron {expr!r}", key_path="triggers.crons"
        )
    return int(text)


def _parse_field(
    text: str, field: str, low: int, high: int, names: dict[str, int], expr: str
) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ConfigError(
                    f"invalid step {step_text!r} in {field} of cron {expr!r}",
                    key_path="triggers.crons",
                )
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start = _parse_value(a, names, field, expr)
            end = _parse_value(b, names, field, expr)
        else:
            start = _parse_value(part, names, field, expr)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ConfigError(
                f"{field} {part!r} in cron {expr!r} must be within {low}-{high}",
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
        parsed.append(_parse_field(text, field, low, high, names, expression))
    weekdays = {d % 7 for d in parsed[4]}
    return CronSchedule(
        expression=expression,
        minutes=frozenset(parsed[0]),
        hours=frozenset(parsed[1]),
        days=frozenset(parsed[2]),
        months=frozenset(parsed[3]),
        weekdays=frozenset(weekdays),
        last_day=last_day,
        days_any=fields[2] in ("*", "?"),
        weekdays_any=fields[4] in ("*", "?"),
    )
