"""cfemu: Cloudflare Workers, Queues and D1, emulated in-process for Python.

Run Python code written for Cloudflare's Python Workers unchanged on a laptop and in pytest.
The one object users hold is :class:`Emulator`; see ``docs/`` for guides.
"""

from __future__ import annotations

from cfemu._js import JsDict
from cfemu.clock import Clock, RealClock, VirtualClock
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
)
from cfemu.runtime.env import Env

__version__ = "0.1.0"

__all__ = [
    "AiError",
    "CfemuError",
    "Clock",
    "ConfigError",
    "D1ColumnNotFoundError",
    "D1DumpError",
    "D1Error",
    "D1ExecError",
    "D1SessionError",
    "D1TypeError",
    "DrainError",
    "Emulator",
    "Env",
    "InferenceUpstreamError",
    "JsDict",
    "MigrationError",
    "NotEmulatedError",
    "QueueError",
    "QueueSendError",
    "QueueTypeError",
    "RealClock",
    "StateError",
    "VirtualClock",
    "WorkerError",
    "__version__",
]
