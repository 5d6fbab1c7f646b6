"""Compatibility dates and flags: which of Cloudflare's behaviour switches a Worker gets.

A Worker's ``compatibility_date`` turns on every flag whose default date is on or before it;
``compatibility_flags`` turns flags on (their enable name) or off (their disable name) one by
one; some flags are implied by another flag from a date on. :func:`resolve` follows workerd's
rules for the flags cfemu honours (spec: python-runtime.md §6, queues.md §1 and §8;
workerd ``compatibility-date.capnp``/``.c++``):

* a flag is on if its enable name is listed, or the date enables it and its disable name is
  not listed; naming both is an error (``Compatibility flags are mutually contradictory``);
* an implied flag is on when the date is on or after its implication date, its disable name
  is not listed and the implying flag is on;
* names cfemu does not know (``nodejs_compat``, ...) are kept in :attr:`Compat.flags` and
  change nothing.

A config without ``compatibility_date`` gets every dated flag (wrangler uses the newest date
the runtime supports). cfemu runs a Worker's module as a Python Worker whether or not
``python_workers`` is listed (Cloudflare refuses the upload without it), so the Python
version flags are resolved as if it were.

:data:`FLAGS` is the table ``docs/compatibility.md`` lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from cfemu.errors import ConfigError

if TYPE_CHECKING:
    from cfemu.config.models import WorkerConfig

__all__ = [
    "FLAGS",
    "LATEST",
    "NO_GLOBAL_HANDLERS_DATE",
    "Compat",
    "Flag",
    "compat_for",
    "resolve",
]


@dataclass(frozen=True, slots=True)
class Flag:
    """One compatibility flag as workerd declares it, and what it changes in cfemu."""

    name: str
    """The enable flag (what ``compatibility_flags`` lists to turn it on)."""
    disable: str | None
    """The disable flag, or ``None`` when it cannot be turned off."""
    date: str | None
    """The compatibility date from which it is on by default (inclusive), or ``None``."""
    effect: str
    """What turning it on changes in cfemu (one sentence, for the docs table)."""
    implied_by: tuple[str, str] | None = None
    """``(flag, date)``: on when ``flag`` is on and the date is on or after ``date``."""
    python: tuple[int, str, str] | None = None
    """For a Python version flag: (precedence, Pyodide version, Python version)."""


#: The date python_no_global_handlers takes effect: module-level ``on_fetch`` & co. stop
#: being handlers (spec: python-runtime.md §5).
NO_GLOBAL_HANDLERS_DATE: Final = "2025-08-14"

#: Stands for "no compatibility_date given": later than every flag's date.
LATEST: Final = "9999-12-31"

FLAGS: Final[tuple[Flag, ...]] = (
    Flag(
        "queues_json_messages",
        "no_queues_json_messages",
        "2024-03-18",
        '`send`/`sendBatch` without `contentType` serialize as `"json"` (before: `"v8"`).',
    ),
    Flag(
        "queue_expose_error_codes",
        "no_queue_expose_error_codes",
        "2026-03-12",
        "A rejected `send`/`sendBatch` reads `<cause> (<code>)` instead of "
        "`Queue send failed: <cause>` / `Queue sendBatch failed: <cause>`.",
    ),
    Flag(
        "queue_consumer_no_wait_for_wait_until",
        "queue_consumer_wait_for_wait_until",
        None,
        "A queue batch's outcome is its handler's alone: `waitUntil` work is not waited for, "
        "and its failure does not retry the batch.",
    ),
    Flag(
        "python_no_global_handlers",
        "disable_python_no_global_handlers",
        NO_GLOBAL_HANDLERS_DATE,
        "Module-level `on_fetch`/`on_scheduled`/`on_queue`/`test` are no longer handlers, "
        "and `Default.fetch` is looked up as `fetch` (before: as `on_fetch`).",
    ),
    Flag(
        "python_workers",
        None,
        None,
        "Python Workers on Pyodide 0.26.0a2 (Python 3.12): JS `null` arrives as `None`.",
        python=(43, "0.26.0a2", "3.12.1"),
    ),
    Flag(
        "python_workflows",
        "disable_python_workflows",
        None,
        "`WorkflowEntrypoint.run(self, event, step)` is called with the event and step "
        "(cfemu runs Python Workflows with or without it).",
        implied_by=("python_workers", "2025-09-20"),
    ),
    Flag(
        "python_workflows_implicit_dependencies",
        "no_python_workflows_implicit_dependencies",
        None,
        "`step.do` takes `(name=None, *, concurrent, config)` and injects earlier steps' "
        "results by parameter name (before: `depends=[...]`).",
        implied_by=("python_workers", "2026-02-25"),
    ),
    Flag(
        "python_workers_20250116",
        "no_python_workers_20250116",
        None,
        "Pyodide 0.28.2 (Python 3.13): JS `null` arrives as `jsnull`; `run_sync` works.",
        implied_by=("python_workers", "2025-09-29"),
        python=(71, "0.28.2", "3.13.2"),
    ),
    Flag(
        "python_workers_20260610",
        "no_python_workers_20260610",
        None,
        "Pyodide 314.0.4 (Python 3.14): `to_js(dict)` gives a plain Object.",
        python=(179, "314.0.4", "3.14.2"),
    ),
    Flag(
        "python_workers_314",
        "no_python_workers_314",
        None,
        "The docs' name for Pyodide 314 (Python 3.14), on from 2026-09-08 per the docs "
        "(unconfirmed in workerd); cfemu treats it as `python_workers_20260610`.",
        implied_by=("python_workers", "2026-09-08"),
        python=(179, "314.0.4", "3.14.2"),
    ),
    Flag(
        "python_workers_20260817",
        "no_python_workers_20260817",
        None,
        "Pyodide 314.0.5 (Python 3.14); experimental.",
        python=(187, "314.0.5", "3.14.2"),
    ),
)

_BY_NAME: Final = {flag.name: flag for flag in FLAGS}


@dataclass(frozen=True, slots=True)
class Compat:
    """A Worker's resolved compatibility: its date and every flag that is on.

    ``compat.enabled("queues_json_messages")``; :attr:`js_null_is_none` and
    :attr:`python_version` say which Pyodide the Worker would get on Cloudflare.
    """

    date: str | None = None
    """The ``compatibility_date`` as configured (``None``: none given, the newest)."""
    flags: frozenset[str] = field(default_factory=frozenset)
    """Every enabled flag: cfemu's known flags by their enable name, plus unknown listed ones."""

    def enabled(self, flag: str) -> bool:
        """Whether the flag named ``flag`` (its enable name) is on."""
        return flag in self.flags

    @property
    def effective_date(self) -> str:
        """The date compared against flag dates (:data:`LATEST` without one)."""
        return self.date or LATEST

    @property
    def python_flag(self) -> str:
        """The enabled Python version flag that wins (the highest workerd field number)."""
        best = max(
            (f for f in FLAGS if f.python is not None and f.name in self.flags),
            key=lambda f: f.python[0] if f.python else 0,
            default=_BY_NAME["python_workers"],
        )
        return best.name

    @property
    def pyodide_version(self) -> str:
        """The Pyodide release Cloudflare would run this Worker on, e.g. ``"0.28.2"``."""
        info = _BY_NAME[self.python_flag].python
        assert info is not None
        return info[1]

    @property
    def python_version(self) -> str:
        """The CPython version inside that Pyodide, e.g. ``"3.13.2"``."""
        info = _BY_NAME[self.python_flag].python
        assert info is not None
        return info[2]

    @property
    def js_null_is_none(self) -> bool:
        """True on Pyodide 0.26 (JS ``null`` arrives as ``None``); later ones give ``jsnull``."""
        return self.python_flag == "python_workers"

    @property
    def global_handlers(self) -> bool:
        """Whether module-level ``on_fetch``/``on_queue``/... are handlers (legacy mode)."""
        return "python_no_global_handlers" not in self.flags

    def why(self, flag: str) -> str:
        """Why ``flag`` is on or off, naming the date or the listed flag (for messages)."""
        info = _BY_NAME.get(flag)
        state = "on" if flag in self.flags else "off"
        date = self.date or "(none: the newest)"
        if info is None:
            return f"{flag} is {state}"
        if info.date is not None:
            side = "on or after" if self.effective_date >= info.date else "before"
            return f"{flag} is {state}: compatibility_date {date} is {side} {info.date}" + (
                f" (turn it off with {info.disable})" if info.disable and state == "on" else ""
            )
        return f"{flag} is {state}"


def resolve(date: str | None, flags: Iterable[str] = (), *, python: bool = True) -> Compat:
    """The :class:`Compat` for ``compatibility_date`` ``date`` and ``compatibility_flags``.

    ``python`` resolves as if ``python_workers`` were listed (cfemu runs Python Workers).
    Raises :class:`~cfemu.errors.ConfigError` for a flag listed twice or a flag listed with
    its own disable flag, as workerd refuses them.
    """
    listed: list[str] = list(flags)
    seen: set[str] = set()
    for name in listed:
        if name in seen:
            raise ConfigError(
                f"Compatibility flag specified multiple times: {name}",
                key_path="compatibility_flags",
            )
        seen.add(name)
    on_date = date or LATEST
    enabled: set[str] = {n for n in seen if n not in _BY_NAME}
    disabled = {f.name for f in FLAGS if f.disable is not None and f.disable in seen}
    enabled -= {f.disable for f in FLAGS if f.disable is not None}
    if python:
        seen.add("python_workers")
    for info in FLAGS:
        if info.name in seen and info.name in disabled:
            raise ConfigError(
                f"Compatibility flags are mutually contradictory: {info.name} vs {info.disable}",
                key_path="compatibility_flags",
            )
        if info.name in seen or (
            info.date is not None and on_date >= info.date and info.name not in disabled
        ):
            enabled.add(info.name)
    for info in FLAGS:  # implications, in declaration order (as workerd applies them)
        if info.implied_by is None or info.name in disabled:
            continue
        other, since = info.implied_by
        if on_date >= since and other in enabled:
            enabled.add(info.name)
    return Compat(date, frozenset(enabled))


def compat_for(config: WorkerConfig) -> Compat:
    """The :class:`Compat` of a loaded config (errors name the config file)."""
    try:
        return resolve(config.compatibility_date, config.compatibility_flags)
    except ConfigError as exc:
        raise ConfigError(exc.reason, file=config.path, key_path="compatibility_flags") from None
