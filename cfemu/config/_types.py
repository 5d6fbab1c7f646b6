"""Field types for the config models, each failing with a message a user can act on.

Validators raise :class:`PydanticCustomError` of type ``"cfemu"`` whose message is final
(``must be between 1 and 100, got 500``); :mod:`cfemu.config._errors` turns those and
pydantic's own errors into :class:`~cfemu.errors.ConfigError`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from cfemu.cron import parse_cron
from cfemu.errors import ConfigError
from cfemu.limits import (
    COMPATIBILITY_DATE_PATTERN,
    CONFIG_WORKER_NAME_PATTERN,
    MAX_QUEUE_NAME_LENGTH,
    QUEUE_NAME_PATTERN,
)

_MAX_SHOWN = 80
_QUEUE_NAME = re.compile(QUEUE_NAME_PATTERN)
_WORKER_NAME = re.compile(CONFIG_WORKER_NAME_PATTERN)
_DATE = re.compile(COMPATIBILITY_DATE_PATTERN)


def describe(value: object) -> str:
    """Render ``value`` as the user wrote it (JSON-like), for ``got ...`` in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"the TOML date-time {value.isoformat()}"
    if isinstance(value, dt.date):
        return f"the TOML date {value.isoformat()} (quote it)"
    if isinstance(value, dt.time):
        return f"the TOML time {value.isoformat()}"
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # pragma: no cover - only plain data reaches here
        text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return text


def fail(message: str) -> PydanticCustomError:
    """A validation error whose ``message`` is shown as is."""
    return PydanticCustomError("cfemu", "{message}", {"message": message})


def _fmt_bound(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _as_int(value: Any) -> Any:
    # JSON and TOML write 10 and 10.0 alike for JavaScript; a float that is a whole number
    # is accepted, anything else (bool, string, 1.5) is not.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"must be an integer, got {describe(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise fail(f"must be an integer, got {describe(value)}")
        return int(value)
    return value


def _between(lo: float, hi: float) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not lo <= value <= hi:  # also catches nan
            raise fail(
                f"must be between {_fmt_bound(lo)} and {_fmt_bound(hi)}, got {describe(value)}"
            )
        return value

    return check


AS_INT = BeforeValidator(_as_int)
"""``Annotated`` metadata: accept an integer (or a whole float), reject bools and strings."""


def number_in(lo: float, hi: float) -> BeforeValidator:
    """``Annotated`` metadata: an int or float in ``lo..hi`` (bools and strings rejected).

    The range is checked before the value becomes a float, so the message shows the value
    as written (``got -1``, not ``got -1.0``).
    """
    in_bounds = _between(lo, hi)

    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"must be a number, got {describe(value)}")
        return float(in_bounds(value))

    return BeforeValidator(check)


def in_range(lo: float, hi: float) -> AfterValidator:
    """``Annotated`` metadata: the value must lie in ``lo..hi``."""
    return AfterValidator(_between(lo, hi))


def _non_empty(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise fail("must not be empty")
    return value


def _queue_name(value: Any) -> Any:
    if isinstance(value, str) and not _QUEUE_NAME.fullmatch(value):
        raise fail(
            f"{describe(value)} is not a valid queue name: use 1 to {MAX_QUEUE_NAME_LENGTH} "
            "lowercase letters, digits and dashes, not starting or ending with a dash"
        )
    return value


def _worker_name(value: Any) -> Any:
    # wrangler accepts "" and treats it as no name.
    if isinstance(value, str) and value and not _WORKER_NAME.fullmatch(value):
        raise fail(
            f'must contain only lowercase letters, digits, "_" and "-", got {describe(value)}'
        )
    return value


def _compat_date(value: Any) -> Any:
    if isinstance(value, dt.date):
        raise fail(f'must be a string like "2024-09-23", got {describe(value)}')
    if isinstance(value, str):
        if not _DATE.fullmatch(value):
            raise fail(f"must be a date in yyyy-mm-dd form, got {describe(value)}")
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise fail(f"must be a real calendar date, got {describe(value)}") from None
    return value


def _cron(value: Any) -> Any:
    # spec: workers-and-config.md §3.2 - checked at load, so a bad cron names its
    # triggers.crons[i] instead of failing later when `cfemu dev` arms the triggers.
    if isinstance(value, str):
        try:
            parse_cron(value)
        except ConfigError as exc:
            raise fail(exc.reason) from None
    return value


BindingName = Annotated[str, AfterValidator(_non_empty)]
"""A binding name: a non-empty string (the attribute on ``env``)."""

QueueName = Annotated[str, AfterValidator(_queue_name)]
"""A queue name matching :data:`cfemu.limits.QUEUE_NAME_PATTERN`."""

WorkerName = Annotated[str, AfterValidator(_worker_name)]
"""A Worker ``name`` as wrangler accepts it."""

CompatibilityDate = Annotated[str, BeforeValidator(_compat_date)]
"""A ``yyyy-mm-dd`` string naming a real date."""

CronExpression = Annotated[str, AfterValidator(_cron)]
"""A five-field cron expression :func:`cfemu.cron.parse_cron` accepts."""


def json_value_error(
    value: Any, path: tuple[str | int, ...] = ()
) -> tuple[tuple[str | int, ...], str] | None:
    """Find the first part of ``value`` that is not a JSON value; ``None`` if all of it is.

    Returns the location inside ``value`` and a message. TOML dates and times, and the
    non-finite floats TOML allows (``inf``, ``nan``), have no JSON form, so a Worker on
    Cloudflare could never receive them.
    """
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return path, f"must be a finite number, got {describe(value)}"
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = json_value_error(item, (*path, i))
            if found is not None:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = json_value_error(item, (*path, str(key)))
            if found is not None:
                return found
        return None
    return path, f"must be a string or a JSON value, got {describe(value)}"
