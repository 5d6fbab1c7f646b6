"""Time in cfemu's ``js`` module: ``Date`` and ``setTimeout``/``clearTimeout``/
``queueMicrotask``, on the emulator's clock (a ``VirtualClock`` drives them in tests)."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import itertools
import logging
import math
from datetime import UTC, datetime
from typing import Any

from cfemu.clock import TimerHandle
from cfemu.runtime import _scope
from cfemu.runtime.js_module.globals import JsConstructor, forbid_in_global_scope, num
from cfemu.runtime.js_module.proxy import JsCallable, JsException, JsProxy

__all__ = ["Date", "JsDate", "clearTimeout", "queueMicrotask", "setTimeout"]

_log = logging.getLogger("cfemu.runtime")


# --- Date ----------------------------------------------------------------------------------
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class JsDate(JsProxy):
    """JavaScript ``Date`` (UTC, as in workerd): ``getTime()``, ``toISOString()``..."""

    __slots__ = ("_ms",)
    js_class = "Date"

    def __init__(self, ms: float) -> None:
        self._ms = ms

    def _dt(self) -> datetime:
        if math.isnan(self._ms):
            raise JsException("RangeError", "Invalid time value")
        return datetime.fromtimestamp(self._ms / 1000, UTC)

    def getTime(self) -> int | float:
        """Milliseconds since the epoch."""
        return num(self._ms)

    valueOf = getTime

    def toISOString(self) -> str:
        """``2026-01-01T00:00:00.000Z``."""
        return self._dt().strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(self._ms) % 1000:03d}Z"

    toJSON = toISOString

    def toUTCString(self) -> str:
        """``Thu, 01 Jan 2026 00:00:00 GMT``."""
        d = self._dt()
        return f"{_DAYS[d.weekday()]}, {d:%d} {_MONTHS[d.month - 1]} {d:%Y %H:%M:%S} GMT"

    def toString(self) -> str:
        """``Thu Jan 01 2026 00:00:00 GMT+0000 (Coordinated Universal Time)``."""
        if math.isnan(self._ms):
            return "Invalid Date"
        d = self._dt()
        return (
            f"{_DAYS[d.weekday()]} {_MONTHS[d.month - 1]} {d:%d %Y %H:%M:%S} "
            "GMT+0000 (Coordinated Universal Time)"
        )

    def getTimezoneOffset(self) -> int:
        """Always 0: Workers run in UTC."""
        return 0

    def __getattr__(self, name: str) -> Any:
        fields = {
            "FullYear": lambda d: d.year,
            "Month": lambda d: d.month - 1,
            "Date": lambda d: d.day,
            "Day": lambda d: (d.weekday() + 1) % 7,
            "Hours": lambda d: d.hour,
            "Minutes": lambda d: d.minute,
            "Seconds": lambda d: d.second,
            "Milliseconds": lambda d: d.microsecond // 1000,
        }
        field = name.removeprefix("get").removeprefix("UTC")
        if name.startswith("get") and field in fields:
            return lambda: fields[field](self._dt())
        raise AttributeError(name)


def _date_ms(*args: Any) -> float:
    if not args:
        return float(_scope.current_clock().now_ms())
    if len(args) == 1:
        value = args[0]
        if isinstance(value, JsDate):
            return value._ms
        if isinstance(value, int | float):
            return float(value)
        return _parse_date(str(value))
    parts = [int(a) for a in args] + [1, 0, 0, 0, 0][len(args) - 2 :]
    year, month, day, hour, minute, second, ms = parts[:7]
    moment = datetime(year, 1, 1, tzinfo=UTC).replace(month=month + 1, day=day)
    moment = moment.replace(hour=hour, minute=minute, second=second)
    return moment.timestamp() * 1000 + ms


def _parse_date(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return math.nan
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


Date = JsConstructor(
    "Date",
    lambda *a: JsDate(_date_ms(*a)),
    lambda *a: JsDate(_date_ms()).toString(),
    {
        "now": lambda: _scope.current_clock().now_ms(),
        "parse": lambda text: num(_parse_date(str(text))),
        "UTC": lambda *a: num(_date_ms(*a, *([0] * (2 - len(a))))),
    },
)


# --- timers -------------------------------------------------------------------------------
_timer_ids = itertools.count(1)
_timers: dict[int, TimerHandle] = {}
_background: set[asyncio.Future[Any]] = set()


def _set_timeout(callback: Any, delay: Any = 0, *args: Any) -> int:
    ms = float(delay or 0)
    if ms > 0:
        forbid_in_global_scope()
    state = _scope.current.get()
    clock = _scope.current_clock()
    timer_id = next(_timer_ids)
    context = contextvars.copy_context()

    def fire() -> None:
        _timers.pop(timer_id, None)
        try:
            result = context.run(callback, *args)
        except Exception:
            _log.exception("a setTimeout() callback raised")
            return
        if inspect.isawaitable(result):
            # run the awaitable in the Worker's context (its env, clock and modules)
            if state is not None and state.ctx is not None:
                context.run(state.ctx.waitUntil, result)
            else:
                task = context.run(asyncio.ensure_future, result)
                _background.add(task)
                task.add_done_callback(_background.discard)

    _timers[timer_id] = clock.call_later(max(ms, 0.0) / 1000, fire)
    return timer_id


def _clear_timeout(timer_id: Any) -> None:
    handle = _timers.pop(int(timer_id), None) if isinstance(timer_id, int) else None
    if handle is not None:
        handle.cancel()


setTimeout = JsCallable(_set_timeout, "setTimeout")
clearTimeout = JsCallable(_clear_timeout, "clearTimeout")
queueMicrotask = JsCallable(
    lambda cb: asyncio.get_running_loop().call_soon(contextvars.copy_context().run, cb),
    "queueMicrotask",
)
