"""Durations and step configs as Cloudflare Workflows read them.

spec: kv-assets-workflows-ai.md §3.4. A duration is a number of milliseconds or a string
``"<n> <unit>[s]"`` (second, minute, hour, day, week, month, year). A step config is
``{"retries": {"limit", "delay", "backoff"}, "timeout"}``; its keys are checked strictly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

from cfemu.limits import (
    WORKFLOW_DEFAULT_BACKOFF,
    WORKFLOW_DEFAULT_RETRY_DELAY_MS,
    WORKFLOW_DEFAULT_RETRY_LIMIT,
    WORKFLOW_DEFAULT_STEP_TIMEOUT_MS,
)

__all__ = ["Backoff", "StepConfig", "parse_duration", "parse_step_config"]

#: The backoff kinds of ``retries.backoff``.
Backoff = Literal["constant", "linear", "exponential"]

_UNITS_MS: Final = {
    "millisecond": 1,
    "second": 1000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 7 * 86_400_000,
    "month": 30 * 86_400_000,
    "year": 365 * 86_400_000,
}
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*$")
_DOCS: Final = "https://developers.cloudflare.com/workflows/build/sleeping-and-retrying/"


def parse_duration(value: object, *, what: str = "duration") -> float:
    """Milliseconds of ``value``: a number (ms) or ``"<n> <unit>[s]"``; ``ValueError`` else.

    A month counts 30 days and a year 365 (**unconfirmed**: Cloudflare's parser is
    not published; these are the conventional values).
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid {what}: {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"invalid {what}: {value!r} (milliseconds, at least 0)")
        return float(value)
    if isinstance(value, str):
        found = _DURATION.match(value.lower())
        if found is not None and found.group(2) in _UNITS_MS:
            return float(found.group(1)) * _UNITS_MS[found.group(2)]
    raise ValueError(
        f"invalid {what}: {value!r} (a number of milliseconds, or a string such as "
        '"10 seconds", "5 minutes", "1 day")'
    )


@dataclass(frozen=True)
class StepConfig:
    """A step's retry policy and per-attempt timeout, in milliseconds."""

    limit: float = WORKFLOW_DEFAULT_RETRY_LIMIT
    """Retries after the first attempt (``math.inf`` for ``Infinity``)."""
    delay_ms: float = WORKFLOW_DEFAULT_RETRY_DELAY_MS
    backoff: Backoff = WORKFLOW_DEFAULT_BACKOFF
    timeout_ms: float = WORKFLOW_DEFAULT_STEP_TIMEOUT_MS

    def delay_before_retry(self, failed_attempt: int) -> float:
        """Milliseconds to wait after attempt ``failed_attempt`` (1-based) failed."""
        if self.backoff == "constant":
            return self.delay_ms
        if self.backoff == "linear":
            return self.delay_ms * failed_attempt
        return float(self.delay_ms * 2 ** (failed_attempt - 1))

    def as_dict(self) -> dict[str, Any]:
        """The config as the step's ``ctx["config"]`` shows it."""
        return {
            "retries": {"limit": self.limit, "delay": self.delay_ms, "backoff": self.backoff},
            "timeout": self.timeout_ms,
        }


def _invalid(name: str) -> ValueError:
    return ValueError(f'Step config for "{name}" is in a invalid format. See {_DOCS}')


def parse_step_config(name: str, config: object) -> StepConfig:
    """The :class:`StepConfig` of ``config`` (``None``: the defaults); Cloudflare's
    ``ValueError`` wording for a malformed one.

    Checked as Cloudflare's engine checks it: only ``retries``, ``timeout`` and
    ``sensitive`` (``"output"``); ``retries`` needs ``limit`` (a number ≥ 0, or
    ``math.inf``) and ``delay`` (a duration), and may have ``backoff``; ``timeout`` is a
    duration other than 0.
    """
    if config is None:
        return StepConfig()
    if not isinstance(config, dict) or not set(config) <= {"retries", "timeout", "sensitive"}:
        raise _invalid(name)
    if "sensitive" in config and config["sensitive"] != "output":
        raise _invalid(name)
    found: dict[str, Any] = {}
    try:
        if "timeout" in config:
            found["timeout_ms"] = parse_duration(config["timeout"])
            if found["timeout_ms"] <= 0:
                raise _invalid(name)
        retries = config.get("retries")
        if retries is not None:
            if not isinstance(retries, dict) or not (
                {"limit", "delay"} <= set(retries) <= {"limit", "delay", "backoff"}
            ):
                raise _invalid(name)
            limit = retries["limit"]
            if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit >= 0:
                raise _invalid(name)
            found["limit"] = limit
            found["delay_ms"] = parse_duration(retries["delay"])
            if "backoff" in retries:
                if retries["backoff"] not in ("constant", "linear", "exponential"):
                    raise _invalid(name)
                found["backoff"] = retries["backoff"]
    except ValueError:
        raise _invalid(name) from None
    return StepConfig(**found)
