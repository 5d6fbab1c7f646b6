"""cfemu's error tree.

Every error cfemu raises on its own account derives from :class:`CfemuError` and carries a
stable ``code``. Errors a Worker would also see on Cloudflare keep Cloudflare's wording
(``D1_ERROR: ...``, ``Queue send failed: ...``); Python ``TypeError``s that Cloudflare raises
as JavaScript ``TypeError`` are raised as :class:`QueueTypeError`, which is both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class CfemuError(Exception):
    """Base of every error cfemu raises. ``code`` is stable across releases."""

    code: str = "CFEMU_ERROR"


# --- configuration ------------------------------------------------------------------------
class ConfigError(CfemuError):
    """A wrangler configuration (or ``.dev.vars``) file is invalid.

    The message names the file, the key path (``queues.consumers[0].max_batch_size``) and
    what is wrong, e.g. ``must be between 1 and 100, got 500``.
    """

    code = "CONFIG_ERROR"

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        key_path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.file = Path(file) if file is not None else None
        self.key_path = key_path
        self.line = line
        self.column = column
        self.reason = message
        super().__init__(config_location(self.file, line, column, key_path) + message)


def config_location(
    file: Path | None, line: int | None, column: int | None, key_path: str | None
) -> str:
    """``wrangler.toml:12:1: queues.consumers[0].max_retries: `` (the parts that are known)."""
    where = str(file) if file is not None else ""
    if file is not None and line is not None:
        where += f":{line}" + (f":{column}" if column is not None else "")
    if key_path:
        where += f": {key_path}" if where else key_path
    return f"{where}: " if where else ""


# --- queues ----------------------------------------------------------------------------------
class QueueError(CfemuError):
    """A queue operation failed (send/sendBatch rejected, unknown queue, ...)."""

    code = "QUEUE_ERROR"


class QueueSendError(QueueError):
    """``send``/``sendBatch`` rejected by the queue service, with Cloudflare's wording.

    ``str(err)`` is e.g. ``Queue send failed: message length of 128001 bytes exceeds limit
    of 128000``; ``status`` is the HTTP status the queue service answered with.
    """

    code = "QUEUE_SEND_FAILED"

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        cause: str | None = None,
        code: int | None = None,
    ) -> None:
        self.status = status
        #: The queue service's cause text (``message length of ... exceeds ...``), if known.
        self.cause = cause
        #: The queue service's error code (``10204``), if known.
        self.error_code = code
        super().__init__(message)


class QueueTypeError(QueueError, TypeError):
    """A ``TypeError`` that Cloudflare's runtime throws from a queue binding."""

    code = "QUEUE_TYPE_ERROR"


class DrainError(CfemuError):
    """``drain()`` did not settle within its bound (runaway producer, stuck handler)."""

    code = "DRAIN_DID_NOT_SETTLE"


# --- D1 ----------------------------------------------------------------------------------------
class D1Error(CfemuError):
    """A D1 error. ``str(err)`` starts with D1's prefix, e.g. ``D1_ERROR: no such table: x``."""

    code = "D1_ERROR"

    def __init__(self, message: str) -> None:
        self.cause_message = message
        super().__init__(f"{self.code}: {message}")


class D1TypeError(D1Error):
    """A bind value D1 does not support: ``D1_TYPE_ERROR: Type 't' not supported for value 'v'``."""

    code = "D1_TYPE_ERROR"


class D1ColumnNotFoundError(D1Error):
    """``first(column)`` named a column the row does not have."""

    code = "D1_COLUMN_NOTFOUND"


class D1ExecError(D1Error):
    """``exec()`` failed: ``D1_EXEC_ERROR: Error in line <n>: <line>: <message>``."""

    code = "D1_EXEC_ERROR"


class D1SessionError(D1Error):
    """An invalid session constraint or bookmark."""

    code = "D1_SESSION_ERROR"


class D1DumpError(D1Error):
    """``dump()`` failed."""

    code = "D1_DUMP_ERROR"


class MigrationError(CfemuError):
    """A D1 migration file failed to apply, or the migrations folder is invalid.

    ``migration`` names the file that failed (if one did); ``applied`` lists the migrations
    applied by the same call before it, which stay applied.
    """

    code = "D1_MIGRATION_ERROR"

    def __init__(
        self, message: str, *, migration: str | None = None, applied: Sequence[str] = ()
    ) -> None:
        self.migration = migration
        self.applied = list(applied)
        super().__init__(message)


# --- Worker runtime -------------------------------------------------------------------------
class WorkerError(CfemuError):
    """A Worker could not be loaded or dispatched to (no ``Default`` class, no handler...)."""

    code = "WORKER_ERROR"


class WorkerEscapeError(WorkerError):
    """A Worker raised a ``BaseException`` that is not an ``Exception`` (``SystemExit``,
    ``KeyboardInterrupt``, a stray ``CancelledError``): that invocation failed and the
    emulator keeps running. ``__cause__`` is what the Worker raised."""

    code = "WORKER_ESCAPE"


class NotEmulatedError(CfemuError, NotImplementedError):
    """A Cloudflare API that exists on Cloudflare but that cfemu does not emulate yet."""

    code = "NOT_EMULATED"


# --- Workers AI ------------------------------------------------------------------------------
class AiError(CfemuError):
    """Base of Workers AI binding errors."""

    code = "AI_ERROR"


class InferenceUpstreamError(AiError):
    """The model (local or remote) failed: ``<code>: <message>`` as Cloudflare reports it."""

    code = "INFERENCE_UPSTREAM_ERROR"


# --- Workers KV ----------------------------------------------------------------------------
class KvError(CfemuError):
    """A Workers KV operation failed, with Cloudflare's wording.

    ``str(err)`` is e.g. ``KV PUT failed: 413 Value length of 26214401 exceeds limit of
    26214400.``; ``status`` is the HTTP status of the KV service's answer (0 when the
    runtime refused the call before sending it).
    """

    code = "KV_ERROR"

    def __init__(self, message: str, *, status: int = 0) -> None:
        self.status = status
        super().__init__(message)


class KvTypeError(KvError, TypeError):
    """A ``TypeError`` Cloudflare's runtime throws from a KV binding (empty key, bad type)."""

    code = "KV_TYPE_ERROR"


class KvSyntaxError(KvError, ValueError):
    """``get(key, type="json")`` of a value that is not JSON (JavaScript's ``SyntaxError``)."""

    code = "KV_SYNTAX_ERROR"


# --- persistence -------------------------------------------------------------------------------
class StateError(CfemuError):
    """Persisted state cannot be used: another process holds it, or its format is unknown."""

    code = "STATE_ERROR"


__all__ = [
    "AiError",
    "CfemuError",
    "ConfigError",
    "D1ColumnNotFoundError",
    "D1DumpError",
    "D1Error",
    "D1ExecError",
    "D1SessionError",
    "D1TypeError",
    "DrainError",
    "InferenceUpstreamError",
    "KvError",
    "KvSyntaxError",
    "KvTypeError",
    "MigrationError",
    "NotEmulatedError",
    "QueueError",
    "QueueSendError",
    "QueueTypeError",
    "StateError",
    "WorkerError",
    "WorkerEscapeError",
]
