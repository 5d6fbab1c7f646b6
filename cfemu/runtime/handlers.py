"""Which functions of a Python Worker handle which event, by compatibility date.

spec: python-runtime.md §5 (workerd ``python-entrypoint-helper.ts``, ``introspection.py``).

* **A ``Default`` class** (a ``WorkerEntrypoint`` subclass) is the default export. Its public
  plain functions are its handlers (static and class methods are not). ``fetch`` is called
  *relaxed*: the request, then ``env`` and ``ctx`` (``None`` for a class entrypoint), as many
  as the method accepts. ``queue`` and ``scheduled`` are called *strictly* with all three
  (``batch, None, None``), so ``queue(self, batch)`` raises ``TypeError`` on every batch, as
  on Cloudflare; cfemu warns at load time.
* **Before compatibility date 2025-08-14** (``python_no_global_handlers`` off), ``Default``'s
  fetch handler is looked up as ``on_fetch``: a class defining only ``fetch`` fails each
  request with ``TypeError: Method on_fetch does not exist``. Without a ``Default`` class the
  module-level functions ``on_fetch``, ``on_queue``, ``on_scheduled`` (and ``test``) are the
  handlers, called relaxed with ``(event, env, ctx)``.
* **From 2025-08-14** module-level ``on_*`` functions are ignored. Plain module-level
  ``fetch``/``queue``/``scheduled`` functions are never handlers.
* Handlers may be ``def`` or ``async def``; an awaitable result is awaited.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from types import FunctionType, ModuleType
from typing import Any

from cfemu.compat import NO_GLOBAL_HANDLERS_DATE, Compat
from cfemu.runtime.entrypoints import DurableObject, WorkerEntrypoint, WorkflowEntrypoint

__all__ = ["EVENTS", "Handler", "HandlerSet", "discover", "public_methods"]

#: The events cfemu dispatches, by Cloudflare's handler name.
EVENTS = ("fetch", "queue", "scheduled", "test")
_MODULE_HANDLERS = {"fetch": "on_fetch", "queue": "on_queue", "scheduled": "on_scheduled"}
_RELAXED = frozenset({"fetch", "test"})


@dataclass(frozen=True, slots=True)
class Handler:
    """How one event reaches the Worker's code."""

    event: str
    """``fetch``, ``queue``, ``scheduled`` or ``test``."""
    name: str
    """The function or method called (``fetch``, ``on_fetch``, ...)."""
    on_class: bool
    """A method of ``Default`` (env and ctx arguments are ``None``), or a module function."""
    relaxed: bool
    """Relaxed: extra arguments dropped. Strict: always ``(event, env, ctx)``."""
    nargs: int
    """How many of ``(event, env, ctx)`` are passed."""
    missing: str | None = None
    """Set when Cloudflare exports the handler but fails each call: the error it raises."""
    note: str | None = None
    """Why, added as a note to that error (or to the TypeError of a strict call)."""

    @property
    def label(self) -> str:
        """``Default.fetch`` or ``on_fetch``: how messages name it."""
        return f"Default.{self.name}" if self.on_class else self.name


@dataclass(frozen=True, slots=True)
class HandlerSet:
    """The handlers of a loaded Worker module, and the warnings its shape deserves."""

    handlers: Mapping[str, Handler]
    entrypoint: type[WorkerEntrypoint] | None
    warnings: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    """What looks like a handler but is not one, with why (for the "no handler" error)."""
    classes: tuple[str, ...] = ()
    """Entrypoint classes other than ``Default`` (named entrypoints, Durable Objects, ...)."""


def public_methods(cls: type) -> set[str]:
    """The names workerd exports for a class: public plain functions along its MRO."""
    names: set[str] = set()
    for name in dir(cls):
        if name.startswith("_"):
            continue
        for base in cls.__mro__:
            if name in base.__dict__:
                if isinstance(base.__dict__[name], FunctionType):
                    names.add(name)
                break
    return names


def _accepted(func: Any, *, method: bool = False) -> int:
    """How many positional arguments ``func`` accepts (after ``self`` for a method), max 3."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return 3
    if method:
        params = params[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 3
    return min(3, sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params))


def _class_handlers(cls: type[WorkerEntrypoint], compat: Compat) -> HandlerSet:
    methods = public_methods(cls)
    handlers: dict[str, Handler] = {}
    warnings: list[str] = []
    legacy = compat.global_handlers
    why = compat.why("python_no_global_handlers")
    for event in EVENTS:
        relaxed = event in _RELAXED
        lookup = f"on_{event}" if legacy and event == "fetch" else event
        exported = event
        if (
            legacy
            and event in ("queue", "scheduled")
            and event not in methods
            and (f"on_{event}" in methods)
        ):
            # workerd strips on_ from on_queue/on_scheduled when exporting, but looks the
            # method up by its plain name when called.
            handlers[event] = Handler(
                event,
                event,
                True,
                relaxed,
                3,
                missing=f"Method {event} does not exist",
                note=f"Default defines on_{event}, but only on_fetch is renamed ({why})",
            )
            continue
        if legacy and event == "fetch":
            if "on_fetch" in methods:
                exported = "on_fetch"
            elif "fetch" in methods:
                handlers[event] = Handler(
                    event,
                    "on_fetch",
                    True,
                    True,
                    1,
                    missing="Method on_fetch does not exist",
                    note=(
                        f"before compatibility date {NO_GLOBAL_HANDLERS_DATE} Cloudflare looks "
                        f"Default.fetch up as Default.on_fetch ({why}); set a later "
                        "compatibility_date or python_no_global_handlers"
                    ),
                )
                warnings.append(
                    f"Default.fetch will fail every request with 'Method on_fetch does not "
                    f"exist': {why}; before {NO_GLOBAL_HANDLERS_DATE} the class method must "
                    "be named on_fetch"
                )
                continue
            else:
                continue
        elif exported not in methods:
            continue
        nargs = _accepted(getattr(cls, lookup), method=True)
        handler = Handler(event, lookup, True, relaxed, nargs if relaxed else 3)
        if not relaxed and nargs < 3:
            handler = Handler(
                event,
                lookup,
                True,
                False,
                3,
                note=(
                    f"Cloudflare calls Default.{event} with all three arguments ({event} "
                    f"event, env, ctx), env and ctx being None; declare "
                    f"`def {event}(self, event, env=None, ctx=None)`"
                ),
            )
            warnings.append(
                f"Default.{event}() accepts {nargs} argument(s) after self, but Cloudflare "
                f"calls it with 3 (the event, env=None, ctx=None): every {event} invocation "
                "will fail with TypeError, as on Cloudflare"
            )
        handlers[event] = handler
    return HandlerSet(handlers, cls, tuple(warnings))


def _entrypoint_classes(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    keys = list(names) if names is not None else [k for k in dir(module) if k[:1] != "_"]
    bases = (WorkerEntrypoint, DurableObject, WorkflowEntrypoint)
    found = []
    for key in keys:
        value = getattr(module, key, None)
        if isinstance(value, type) and issubclass(value, bases) and value not in bases:
            found.append(key)
    return found


def discover(module: ModuleType, compat: Compat) -> HandlerSet:
    """The handlers of ``module`` under ``compat`` (see the module docstring)."""
    default = getattr(module, "Default", None)
    if isinstance(default, type) and issubclass(default, WorkerEntrypoint):
        return _class_handlers(default, compat)
    ignored: list[str] = []
    handlers: dict[str, Handler] = {}
    legacy = compat.global_handlers
    why = compat.why("python_no_global_handlers")
    for event, name in (*_MODULE_HANDLERS.items(), ("test", "test")):
        func = getattr(module, name, None)
        if not callable(func):
            continue
        if legacy:
            handlers[event] = Handler(event, name, False, True, _accepted(func))
        elif name != "test":
            ignored.append(f"module-level {name}() (ignored: {why})")
    for name, legacy_name in _MODULE_HANDLERS.items():
        if inspect.isfunction(getattr(module, name, None)):
            fix = f"name it {legacy_name}() or " if legacy else ""
            ignored.append(
                f"module-level {name}() (a plain module function is never a handler on "
                f"Cloudflare's current runtime; {fix}define it as a method of "
                "class Default(WorkerEntrypoint))"
            )
    classes = tuple(_entrypoint_classes(module))
    warnings: tuple[str, ...] = ()
    if not handlers and ignored:
        warnings = ("no handler for fetch, queue or scheduled events; found " + "; ".join(ignored),)
    return HandlerSet(handlers, None, warnings, tuple(ignored), classes)
