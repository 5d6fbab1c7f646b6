"""Durable Objects: Python ``DurableObject`` classes with SQLite-backed storage, alarms, RPC
stubs and Cloudflare's concurrency model (see ``docs/durable-objects.md``).

The binding kind is :class:`~cfemu.durable_objects.service.DurableObjectsService`
(``emulator.service(DurableObjectsService)``); Workers see
:class:`~cfemu.durable_objects.namespace.DurableObjectNamespace` on ``env``.
"""

from __future__ import annotations

from cfemu.durable_objects.errors import (
    DataCloneError,
    DurableObjectAbort,
    DurableObjectError,
    DurableObjectRangeError,
    DurableObjectTypeError,
)
from cfemu.durable_objects.ids import DurableObjectId
from cfemu.durable_objects.namespace import DurableObjectNamespace, DurableObjectStub
from cfemu.durable_objects.sql import SqlStorage, SqlStorageCursor
from cfemu.durable_objects.state import DurableObjectState
from cfemu.durable_objects.storage import DurableObjectStorage, DurableObjectTransaction

__all__ = [
    "DataCloneError",
    "DurableObjectAbort",
    "DurableObjectError",
    "DurableObjectId",
    "DurableObjectNamespace",
    "DurableObjectRangeError",
    "DurableObjectState",
    "DurableObjectStorage",
    "DurableObjectStub",
    "DurableObjectTransaction",
    "DurableObjectTypeError",
    "SqlStorage",
    "SqlStorageCursor",
]
