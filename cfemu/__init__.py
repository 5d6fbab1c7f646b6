"""cfemu: Cloudflare Workers, Queues and D1, emulated in-process for Python.

Run Python code written for Cloudflare's Python Workers unchanged on a laptop and in pytest.
The one object users hold is :class:`Emulator`; see ``docs/`` for guides.

The package is lazy: ``import cfemu`` loads nothing but this file, and each public name is
imported from its module on first use (``cfemu.Emulator``, ``from cfemu import D1Database``),
so a program pays only for the parts it touches (pydantic, httpx, the AI binding, ...).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cfemu._js import JsDict
    from cfemu._tasks import TaskTracker
    from cfemu.ai import AiBinding, AiSettings, AiStats
    from cfemu.clock import Clock, RealClock, VirtualClock
    from cfemu.config import ConfigWarning, WorkerConfig, find_config, load_config
    from cfemu.d1 import D1Database, D1DatabaseSession, D1PreparedStatement
    from cfemu.emulator import Emulator
    from cfemu.errors import (
        AiError,
        CfemuError,
        ConfigError,
        D1ColumnNotFoundError,
        D1DumpError,
        D1Error,
        D1ExecError,
        D1SessionError,
        D1TypeError,
        DrainError,
        InferenceUpstreamError,
        MigrationError,
        NotEmulatedError,
        QueueError,
        QueueSendError,
        QueueTypeError,
        StateError,
        WorkerError,
        WorkerEscapeError,
    )
    from cfemu.queues import (
        Broker,
        ConsumerSettings,
        Message,
        MessageBatch,
        QueueProducer,
        QueueStats,
        QueueView,
    )
    from cfemu.runtime import ExecutionContext, ScheduledController, Worker, WorkerTransport
    from cfemu.runtime.env import Env

__version__ = "0.1.0"

#: Where each public name lives: imported from there on first use (see ``__getattr__``).
_SOURCES: dict[str, str] = {
    "AiBinding": "cfemu.ai",
    "AiError": "cfemu.errors",
    "AiSettings": "cfemu.ai",
    "AiStats": "cfemu.ai",
    "Broker": "cfemu.queues",
    "CfemuError": "cfemu.errors",
    "Clock": "cfemu.clock",
    "ConfigError": "cfemu.errors",
    "ConfigWarning": "cfemu.config",
    "ConsumerSettings": "cfemu.queues",
    "D1ColumnNotFoundError": "cfemu.errors",
    "D1Database": "cfemu.d1",
    "D1DatabaseSession": "cfemu.d1",
    "D1DumpError": "cfemu.errors",
    "D1Error": "cfemu.errors",
    "D1ExecError": "cfemu.errors",
    "D1PreparedStatement": "cfemu.d1",
    "D1SessionError": "cfemu.errors",
    "D1TypeError": "cfemu.errors",
    "DrainError": "cfemu.errors",
    "Emulator": "cfemu.emulator",
    "Env": "cfemu.runtime.env",
    "ExecutionContext": "cfemu.runtime",
    "InferenceUpstreamError": "cfemu.errors",
    "JsDict": "cfemu._js",
    "Message": "cfemu.queues",
    "MessageBatch": "cfemu.queues",
    "MigrationError": "cfemu.errors",
    "NotEmulatedError": "cfemu.errors",
    "QueueError": "cfemu.errors",
    "QueueProducer": "cfemu.queues",
    "QueueSendError": "cfemu.errors",
    "QueueStats": "cfemu.queues",
    "QueueTypeError": "cfemu.errors",
    "QueueView": "cfemu.queues",
    "RealClock": "cfemu.clock",
    "ScheduledController": "cfemu.runtime",
    "StateError": "cfemu.errors",
    "TaskTracker": "cfemu._tasks",
    "VirtualClock": "cfemu.clock",
    "Worker": "cfemu.runtime",
    "WorkerConfig": "cfemu.config",
    "WorkerError": "cfemu.errors",
    "WorkerEscapeError": "cfemu.errors",
    "WorkerTransport": "cfemu.runtime",
    "find_config": "cfemu.config",
    "load_config": "cfemu.config",
}

__all__ = [
    "AiBinding",
    "AiError",
    "AiSettings",
    "AiStats",
    "Broker",
    "CfemuError",
    "Clock",
    "ConfigError",
    "ConfigWarning",
    "ConsumerSettings",
    "D1ColumnNotFoundError",
    "D1Database",
    "D1DatabaseSession",
    "D1DumpError",
    "D1Error",
    "D1ExecError",
    "D1PreparedStatement",
    "D1SessionError",
    "D1TypeError",
    "DrainError",
    "Emulator",
    "Env",
    "ExecutionContext",
    "InferenceUpstreamError",
    "JsDict",
    "Message",
    "MessageBatch",
    "MigrationError",
    "NotEmulatedError",
    "QueueError",
    "QueueProducer",
    "QueueSendError",
    "QueueStats",
    "QueueTypeError",
    "QueueView",
    "RealClock",
    "ScheduledController",
    "StateError",
    "TaskTracker",
    "VirtualClock",
    "Worker",
    "WorkerConfig",
    "WorkerError",
    "WorkerEscapeError",
    "WorkerTransport",
    "__version__",
    "find_config",
    "load_config",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use, then keep it in the package."""
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module 'cfemu' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The package's attributes, public names not yet imported included."""
    return sorted({*globals(), *__all__})
