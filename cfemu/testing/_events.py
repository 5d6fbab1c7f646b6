"""Events made by hand, as ``@cloudflare/vitest-pool-workers``' ``cloudflare:test`` makes them.

Unit-style tests call a Worker's handler directly with an event they built, then inspect what
the handler decided:

- :func:`create_execution_context` / :func:`wait_on_execution_context`: a ``ctx`` to pass to
  ``Default(ctx, env)``, and a way to wait for the ``waitUntil`` work it collected.
- :func:`create_message_batch` / :func:`get_queue_result`: a real
  :class:`~cfemu.queues.MessageBatch` for a ``queue`` handler, and the ack/retry decisions the
  handler recorded on it.
- :func:`create_scheduled_controller`: the ``controller`` of a ``scheduled`` handler.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from cfemu._js import JsDict
from cfemu._tasks import TaskTracker
from cfemu.clock import Clock, RealClock
from cfemu.queues import MessageBatch
from cfemu.queues._codec import encode, resolve_type
from cfemu.queues.message import ACK, RETRY
from cfemu.queues.store import StoredMessage, sent_at_ms
from cfemu.runtime.context import ExecutionContext, ScheduledController

if TYPE_CHECKING:
    from cfemu.emulator import Emulator

__all__ = [
    "QueueResult",
    "create_execution_context",
    "create_message_batch",
    "create_scheduled_controller",
    "get_queue_result",
    "wait_on_execution_context",
]

_REAL_CLOCK = RealClock()

#: The content type :func:`create_message_batch` gives bodies unless a message names one: the
#: vitest plugin structured-clones bodies, and ``v8`` is cfemu's structured clone.
DEFAULT_BATCH_CONTENT_TYPE = "v8"


def create_execution_context(
    emulator: Emulator | None = None, *, worker: str | None = None
) -> ExecutionContext:
    """A fresh ``ctx`` (:class:`~cfemu.runtime.ExecutionContext`) for calling a handler directly.

    ``waitUntil`` work runs as asyncio tasks. With ``emulator``, they are the emulator's
    tracked tasks (so ``await emulator.drain()`` waits for them too) and ``import workers``
    inside them resolves as in ``worker`` (default: the primary Worker). Await
    :func:`wait_on_execution_context` to wait for them.
    """
    if emulator is None:
        return ExecutionContext(TaskTracker())
    target = emulator.workers[worker] if worker else emulator.worker
    return ExecutionContext(
        emulator.tracker,
        worker_name=target.name,
        logger=target.logger,
        import_paths=target.import_paths,
        modules=target.modules,
    )


def _require_context(ctx: object, function: str) -> ExecutionContext:
    if not isinstance(ctx, ExecutionContext):
        raise TypeError(
            f"{function}() needs an ExecutionContext, got {type(ctx).__name__}; "
            "create one with create_execution_context()"
        )
    return ctx


async def wait_on_execution_context(ctx: ExecutionContext) -> None:
    """Wait until every ``waitUntil`` task of ``ctx`` has finished, including tasks started
    while waiting.

    Raises the failure if one task failed, and an :class:`ExceptionGroup` of them if several
    did (vitest's ``waitOnExecutionContext`` rejects likewise). Work waiting on a
    :class:`~cfemu.clock.VirtualClock` only finishes when the clock moves: use
    ``await emulator.advance(...)`` or ``await emulator.drain()`` for it.
    """
    ctx = _require_context(ctx, "wait_on_execution_context")
    with contextlib.suppress(Exception):  # failures are all reported below
        await ctx.settle()  # waits for every task, then raises the first failure
    errors = ctx.errors
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ExceptionGroup(
            f"{len(errors)} waitUntil() tasks failed",
            [e if isinstance(e, Exception) else RuntimeError(repr(e)) for e in errors],
        )


def _timestamp_ms(value: object, clock: Clock) -> int:
    if value is None:
        return clock.now_ms()
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    raise TypeError(
        "a message's 'timestamp' must be a datetime or milliseconds since the epoch, got "
        f"{type(value).__name__}"
    )


def _attempts(value: object) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError(f"a message's 'attempts' must be an int >= 1, got {value!r}")
    return value


def create_message_batch(
    queue: str,
    messages: Iterable[Mapping[str, Any]],
    *,
    clock: Clock | None = None,
) -> MessageBatch:
    """A :class:`~cfemu.queues.MessageBatch` of ``messages`` on ``queue``, to pass to a
    Worker's ``queue`` handler directly (``await Default(ctx, env).queue(batch)``, or
    ``await emulator.worker.queue(batch)``).

    Each message is a mapping like the vitest plugin's ``ServiceBindingQueueMessage``:
    ``body`` (required), ``id`` (default: a new 32-hex-digit id), ``timestamp`` (a
    ``datetime`` or milliseconds since the epoch; default: ``clock``'s now, the real clock if
    none), ``attempts`` (default 1) and, a cfemu addition, ``contentType`` (default ``"v8"``:
    the handler gets a deep copy of ``body``, as with vitest's structured clone; ``"json"``,
    ``"text"`` and ``"bytes"`` check the body as a producer's ``send`` would).
    """
    if not isinstance(queue, str):
        raise TypeError(f"create_message_batch() needs a queue name (str), got {queue!r}")
    if isinstance(messages, Mapping | str | bytes):
        raise TypeError("create_message_batch() needs a list of messages")
    when = clock if clock is not None else _REAL_CLOCK
    records: list[StoredMessage] = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise TypeError(
                f"each message must be a mapping with a 'body', got {type(message).__name__}"
            )
        if "body" not in message:
            raise TypeError("each message needs a 'body'")
        ctype = resolve_type(message.get("contentType", DEFAULT_BATCH_CONTENT_TYPE))
        payload, _size = encode(message["body"], ctype)
        msg_id = message.get("id")
        records.append(
            StoredMessage(
                uuid.uuid4().hex if msg_id is None else str(msg_id),
                sent_at_ms(_timestamp_ms(message.get("timestamp"), when)),
                ctype,
                payload,
                0.0,
                attempts=_attempts(message.get("attempts")),
            )
        )
    return MessageBatch(queue, records)


@dataclass(frozen=True)
class QueueResult:
    """What a ``queue`` handler decided, as vitest's ``getQueueResult`` reports it.

    ``outcome`` is ``"ok"``, or ``"exception"`` when ``waitUntil`` work of the invocation
    failed (``error`` holds the failure; the invocation fails on Cloudflare too). ``ack_all``
    and ``retry_batch`` (``{"retry": bool, "delaySeconds"?: int}``) are the batch-wide calls;
    ``explicit_acks`` lists the ids of messages acked by their own ``ack()``, and
    ``retry_messages`` (``[{"msgId", "delaySeconds"?}]``) the messages retried by their own
    ``retry()``, in batch order.
    """

    outcome: Literal["ok", "exception"]
    ack_all: bool
    retry_batch: dict[str, Any]
    explicit_acks: list[str] = field(default_factory=list)
    retry_messages: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None


async def get_queue_result(batch: MessageBatch, ctx: ExecutionContext | None = None) -> QueueResult:
    """Wait for ``ctx``'s ``waitUntil`` work, then report the decisions recorded on ``batch``.

    ``ctx`` is the context the handler ran with (omit it when the Worker made its own, as
    ``await emulator.worker.queue(batch)`` does). An exception raised by the handler itself
    propagates from the call to the handler, not from here; ``pytest.raises`` it, then read
    the result to see the decisions made before the exception.
    """
    if not isinstance(batch, MessageBatch):
        raise TypeError(
            f"get_queue_result() needs a MessageBatch, got {type(batch).__name__}; "
            "create one with create_message_batch()"
        )
    error: BaseException | None = None
    if ctx is not None:
        ctx = _require_context(ctx, "get_queue_result")
        try:
            await wait_on_execution_context(ctx)
        except Exception as exc:
            error = exc
    acks: list[str] = []
    retries: list[dict[str, Any]] = []
    for msg in batch.messages:
        verdict = msg._verdict
        if verdict == ACK:
            acks.append(msg.id)
        elif verdict == RETRY:
            entry = JsDict(msgId=msg.id)
            if msg._delay is not None:
                entry["delaySeconds"] = msg._delay
            retries.append(entry)
    decisions = batch._decisions
    retry_batch = JsDict(retry=decisions.retry_all)
    if decisions.retry_all and decisions.retry_delay is not None:
        retry_batch["delaySeconds"] = decisions.retry_delay
    return QueueResult(
        outcome="ok" if error is None else "exception",
        ack_all=decisions.ack_all,
        retry_batch=retry_batch,
        explicit_acks=acks,
        retry_messages=retries,
        error=error,
    )


def create_scheduled_controller(
    *,
    cron: str = "",
    scheduled_time: datetime | int | None = None,
    clock: Clock | None = None,
) -> ScheduledController:
    """The ``controller`` of a ``scheduled`` handler, for calling it directly.

    ``scheduled_time`` is a ``datetime`` or milliseconds since the epoch (what the handler
    reads as ``controller.scheduledTime``); by default ``clock``'s now (pass
    ``emulator.clock`` to follow virtual time), the real clock if none.
    """
    if not isinstance(cron, str):
        raise TypeError(f"cron must be a string, got {type(cron).__name__}")
    when = clock if clock is not None else _REAL_CLOCK
    if scheduled_time is None:
        ms = when.now_ms()
    elif isinstance(scheduled_time, datetime):
        ms = int(scheduled_time.timestamp() * 1000)
    elif isinstance(scheduled_time, int) and not isinstance(scheduled_time, bool):
        ms = scheduled_time
    else:
        raise TypeError(
            "scheduled_time must be a datetime or milliseconds since the epoch (int), got "
            f"{type(scheduled_time).__name__}"
        )
    return ScheduledController(cron, ms)
