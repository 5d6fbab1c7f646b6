"""cfemu: Cloudflare Workers, Queues and D1, emulated in-process for Python.

Run Python code written for Cloudflare's Python Workers unchanged on a laptop and in pytest.
The one object users hold is :class:`Emulator`; see ``docs/`` for guides.
"""

from __future__ import annotations

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
