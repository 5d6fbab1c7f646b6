"""cfemu.runtime: loading Python Workers and running their handlers in CPython.

* :class:`Worker` — ``Worker.load(main, name=..., env=..., clock=..., tracker=...)`` imports
  a Worker module and dispatches ``fetch``/``queue``/``scheduled`` events to its
  ``Default(WorkerEntrypoint)``.
* :class:`WorkerTransport` / :func:`asgi_app` — HTTP into a Worker, in-process or via any
  ASGI server.
* :mod:`cfemu.runtime.workers_module` — the stand-in for Cloudflare's ``workers`` module
  that ``import workers`` resolves to inside a Worker.
"""

from __future__ import annotations

from cfemu.runtime.body import ArrayBuffer, Blob, BlobEnding, File, FormData
from cfemu.runtime.context import ExecutionContext, ScheduledController
from cfemu.runtime.entrypoints import DurableObject, WorkerEntrypoint, WorkflowEntrypoint
from cfemu.runtime.env import Env
from cfemu.runtime.http import FetchResponse, Headers, Request, Response
from cfemu.runtime.outbound import fetch
from cfemu.runtime.transport import (
    SCHEDULED_PATHS,
    Dispatch,
    WorkerASGIApp,
    WorkerTransport,
    asgi_app,
    scheduled_dispatch,
)
from cfemu.runtime.worker import HANDLER_NAMES, Worker, payload_too_large

__all__ = [
    "HANDLER_NAMES",
    "SCHEDULED_PATHS",
    "ArrayBuffer",
    "Blob",
    "BlobEnding",
    "Dispatch",
    "DurableObject",
    "Env",
    "ExecutionContext",
    "FetchResponse",
    "File",
    "FormData",
    "Headers",
    "Request",
    "Response",
    "ScheduledController",
    "Worker",
    "WorkerASGIApp",
    "WorkerEntrypoint",
    "WorkerTransport",
    "WorkflowEntrypoint",
    "asgi_app",
    "fetch",
    "payload_too_large",
    "scheduled_dispatch",
]
