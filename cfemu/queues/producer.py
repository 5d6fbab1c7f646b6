"""The producer binding a Worker sees as ``env.<BINDING>``: ``send``, ``sendBatch``, ``metrics``.

Validation follows workerd then the queue service, in that order (spec: queues.md §1, §2, §8):
client-side ``TypeError``s first (missing body, unknown content type, a body the content
type cannot carry), then the service's limits (``Queue send failed: ...``). A rejected call
enqueues nothing — a rejected ``sendBatch`` none of its messages.

Two compatibility flags change the binding (:mod:`cfemu.compat`): ``queues_json_messages``
(2024-03-18) makes ``"json"`` the default content type instead of ``"v8"``, and
``queue_expose_error_codes`` (2026-03-12) words a rejection ``<cause> (<code>)`` instead of
``Queue send failed: <cause>``. Both calls resolve to the queue's metrics after the write,
as workerd returns them: ``{"metadata": {"metrics": {...}}}``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sized
from itertools import compress, islice, repeat
from operator import contains, itemgetter
from typing import TYPE_CHECKING, Any

from cfemu import limits
from cfemu._js import JsDict, check_rpc
from cfemu.compat import Compat
from cfemu.errors import QueueSendError, QueueTypeError
from cfemu.queues._codec import (
    _JSON_OPTIONS,
    JSON,
    V8,
    Payload,
    _dumps,
    encode,
    resolve_type,
)
from cfemu.queues.store import StoredMessage, sent_batch

if TYPE_CHECKING:
    from cfemu.queues._core import _QueueCore

__all__ = ["QueueProducer"]

_MAX_DELAY = limits.MAX_DELAY_SECONDS
_MAX_MESSAGE = limits.MAX_MESSAGE_BYTES
_MAX_BATCH_MESSAGES = limits.MAX_BATCH_MESSAGES
_MAX_BATCH_BYTES = limits.MAX_BATCH_BYTES
_urandom = os.urandom


def _new_id() -> str:
    """A message id: 32 lowercase hex characters, like Cloudflare's."""
    return _urandom(16).hex()


def _too_many(messages: Iterable[Any], codes: bool) -> QueueSendError:
    """The queue service's refusal of a batch over 100 messages. Its count is the real one
    for a sized collection; of a generator only the 101 messages looked at are known."""
    count = (
        str(len(messages)) if isinstance(messages, Sized) else f"at least {_MAX_BATCH_MESSAGES + 1}"
    )
    return service_error(
        "sendBatch",
        f"batch message count of {count} exceeds limit of {_MAX_BATCH_MESSAGES}",
        status=413,
        code=BATCH_TOO_MANY,
        codes=codes,
    )


#: Queue service error codes (spec: queues.md §8; Cloudflare's Queues error-code table).
DELAY_INVALID = 10202
MESSAGE_TOO_LARGE = 10204
BATCH_TOO_LARGE = 10205
BATCH_TOO_MANY = 10206
UNKNOWN_ERROR = 15000


def service_error(
    operation: str, cause: str, *, status: int, code: int, codes: bool
) -> QueueSendError:
    """A rejection by the queue service, worded as workerd words it for ``operation``.

    ``codes`` (flag ``queue_expose_error_codes``): ``<cause> (<code>)``; otherwise
    ``Queue send failed: <cause>`` / ``Queue sendBatch failed: <cause>``.
    """
    message = f"{cause} ({code})" if codes else f"Queue {operation} failed: {cause}"
    return QueueSendError(message, status=status, cause=cause, code=code)


def _delay(value: object, operation: str, codes: bool) -> int:
    """Validate a send delay (integer seconds, 0..43200)."""
    if type(value) is int and 0 <= value <= _MAX_DELAY:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueueTypeError(
            f"delaySeconds must be a number of seconds, but received: {type(value).__name__}"
        )
    if value == value and float(value).is_integer() and 0 <= value <= _MAX_DELAY:
        return int(value)
    raise service_error(
        operation,
        f"message delay {value} is invalid: delaySeconds must be an integer "
        f"between {limits.MIN_DELAY_SECONDS} and {_MAX_DELAY}",
        status=400,
        code=DELAY_INVALID,
        codes=codes,
    )


class QueueProducer:
    """``env.<BINDING>`` for a queue producer: Cloudflare's ``Queue`` binding.

    Bodies are serialized on send (``contentType``: ``"json"`` by default, ``"text"``,
    ``"bytes"``, ``"v8"``); delays resolve per message > ``sendBatch`` option > the producer's
    ``delivery_delay`` > 0, and an explicit ``0`` overrides a default.
    """

    __slots__ = ("_codes", "_core", "_default_type", "_delivery_delay")

    def __init__(
        self, core: _QueueCore, delivery_delay: int = 0, compat: Compat | None = None
    ) -> None:
        self._core = core
        self._delivery_delay = int(delivery_delay)
        # spec: queues.md §1 "Content types", §8; the newest behaviour without a compat.
        json_default = compat is None or compat.enabled("queues_json_messages")
        self._default_type = JSON if json_default else V8
        self._codes = compat is None or compat.enabled("queue_expose_error_codes")

    @property
    def queue_name(self) -> str:
        """The queue this binding sends to (cfemu's inspection aid, not a Cloudflare member)."""
        return self._core.name

    async def send(
        self,
        body: Any,
        contentType: str | Mapping[str, Any] | None = None,
        delaySeconds: int | None = None,
    ) -> JsDict:
        """Send one message; resolves to ``{"metadata": {"metrics": {...}}}``.

        Raises ``TypeError`` (:class:`~cfemu.errors.QueueTypeError`) for a missing body or a
        body the content type cannot carry, and :class:`~cfemu.errors.QueueSendError`
        (``Queue send failed: ...``) over the limits."""
        content_type: object = contentType
        delay_option: object = delaySeconds
        if content_type is not None and isinstance(content_type, Mapping):
            # send(body, {"contentType": ...}): Python Workers pass a positional dict on as
            # the JS options object; unknown keys are ignored, as by the runtime.
            options = content_type
            content_type = options.get("contentType")
            if delay_option is None:
                delay_option = options.get("delaySeconds")
        if body is None:
            raise QueueTypeError("Message body cannot be undefined")
        ctype = self._default_type if content_type is None else resolve_type(content_type)
        payload, size = _encode_checked(body, ctype)
        delay = (
            self._delivery_delay
            if delay_option is None
            else _delay(delay_option, "send", self._codes)
        )
        if size > _MAX_MESSAGE:
            raise service_error(
                "send",
                f"message length of {size} bytes exceeds limit of {_MAX_MESSAGE}",
                status=413,
                code=MESSAGE_TOO_LARGE,
                codes=self._codes,
            )
        core = self._core
        if core.broker.faults:
            self._check_fault("send")
        clock = core.clock
        now = clock.now()
        await self._write(
            (StoredMessage(_new_id(), now, ctype, payload, now + delay),),
            now,
            "send",
        )
        return JsDict(metadata=JsDict(metrics=core.metrics()))

    async def _write(
        self, records: tuple[StoredMessage, ...] | list[StoredMessage], now: float, operation: str
    ) -> None:
        """Queue ``records``; a store failure is the service's error, worded for the call."""
        try:
            await self._core.send(records, now)
        except QueueSendError as exc:
            raise service_error(
                operation,
                exc.cause or "Internal Server Error",
                status=exc.status,
                code=exc.error_code or UNKNOWN_ERROR,
                codes=self._codes,
            ) from exc.__cause__

    def _check_fault(self, operation: str) -> None:
        try:
            self._core.check_send_fault()
        except QueueSendError as exc:  # an injected fault: worded for this call and flag
            raise service_error(
                operation,
                exc.cause or str(exc),
                status=exc.status,
                code=exc.error_code or UNKNOWN_ERROR,
                codes=self._codes,
            ) from None

    async def sendBatch(
        self,
        messages: Iterable[Mapping[str, Any]],
        delaySeconds: int | Mapping[str, Any] | None = None,
    ) -> JsDict:
        """Send up to 100 messages (``{"body": ..., "contentType": ..., "delaySeconds": ...}``)
        atomically: if any is rejected, none is enqueued. Resolves to
        ``{"metadata": {"metrics": {...}}}``."""
        if isinstance(messages, _REFUSED_ARGUMENTS):
            check_rpc(messages)  # the SDK refuses the argument itself (spec §2.2)
        try:
            # Look at no more than one message past the limit: a huge (or endless)
            # generator is refused without being consumed or serialized.
            items = list(islice(messages, _MAX_BATCH_MESSAGES + 1))
        except TypeError:
            raise QueueTypeError(
                "sendBatch() expects an iterable of messages, but received: "
                + type(messages).__name__
            ) from None
        if not items:
            raise QueueTypeError("sendBatch() requires at least one message")
        if len(items) > _MAX_BATCH_MESSAGES:
            raise _too_many(messages, self._codes)
        delay_option: object = delaySeconds
        if delay_option is not None and isinstance(delay_option, Mapping):
            delay_option = delay_option.get("delaySeconds")  # sendBatch(msgs, {options})
        codes = self._codes
        default_delay = (
            self._delivery_delay
            if delay_option is None
            else _delay(delay_option, "sendBatch", codes)
        )
        core = self._core
        now = core.clock.now()
        default_due = now + default_delay
        default_type = self._default_type
        batch = _fast_json_batch(items, now, default_due) if default_type == JSON else None
        if batch is None:
            check_rpc(items)  # what the SDK refuses (the fast path checked its own bodies)
            batch = _general_batch(items, now, default_due, default_type, codes)
        records, total, largest = batch
        if largest > _MAX_MESSAGE:
            raise service_error(
                "sendBatch",
                f"message in batch has length {largest} bytes which exceeds single message "
                f"size limit of {_MAX_MESSAGE}",
                status=413,
                code=MESSAGE_TOO_LARGE,
                codes=codes,
            )
        if total > _MAX_BATCH_BYTES:
            raise service_error(
                "sendBatch",
                f"batch size of {total} bytes exceeds limit of {_MAX_BATCH_BYTES}",
                status=413,
                code=BATCH_TOO_LARGE,
                codes=codes,
            )
        if core.broker.faults:
            self._check_fault("sendBatch")
        await self._write(records, now, "sendBatch")
        return JsDict(metadata=JsDict(metrics=core.metrics()))

    async def metrics(self) -> JsDict:
        """``{backlogCount, backlogBytes, oldestMessageTimestamp}`` of the queue.

        ``oldestMessageTimestamp`` is an aware UTC ``datetime`` (Cloudflare: a ``Date``), or
        ``None`` when the backlog is empty (Cloudflare: ``undefined``).
        """
        return self._core.metrics()

    def __repr__(self) -> str:
        return f"<QueueProducer queue={self._core.name!r}>"


# records, total bytes, largest message (or any size up to the single-message limit when
# none is over it)
_Batch = tuple[list[StoredMessage], int, int]


def _body_only(items: list[Any]) -> bool:
    """Whether every item is a plain ``dict`` holding exactly one key (C loops: no Python
    call per message; :func:`_fast_json_batch` then reads that key as ``"body"``)."""
    n = len(items)
    return list(map(type, items)).count(dict) == n and list(map(len, items)).count(1) == n


_get_body = itemgetter("body")
_NULL = b"null"
_REFUSED_ARGUMENTS = (tuple, bytearray)  # what the SDK refuses as sendBatch's argument


_BRACKET = b"["


def _encode_checked(body: Any, ctype: str) -> tuple[Payload, int]:
    """``encode`` after refusing what Cloudflare's Python SDK refuses before the call
    reaches the queue (a tuple or bytearray anywhere in the body: spec §2.2).

    For JSON (the hot path) the check piggybacks on the C serializer: a tuple can only hide
    where the JSON has a ``[``, so only such bodies are walked; a body orjson refuses
    (a bytearray, a coroutine) is walked before its serialization error is reported.
    """
    if ctype != JSON:
        check_rpc(body)
        return encode(body, ctype)
    try:
        payload, size = encode(body, ctype)
    except QueueTypeError:
        check_rpc(body)
        raise
    if _BRACKET in payload:  # JSON payloads are bytes
        check_rpc(body)
    return payload, size


def check_encoded(bodies: list[Any], payloads: list[bytes], joined: bytes | None = None) -> None:
    """The RPC check of a JSON batch: walk only the bodies whose JSON holds a ``[``.
    ``joined``: the payloads joined, when the caller has them."""
    if joined is None:
        joined = b"".join(payloads)
    if _BRACKET not in joined:  # one C scan for the whole batch
        return
    for body in compress(bodies, map(contains, payloads, repeat(_BRACKET))):
        check_rpc(body)


def _fast_json_batch(items: list[Any], now: float, due: float) -> _Batch | None:
    """``sendBatch``'s common shape — plain dicts holding only a JSON ``body`` — with every
    per-message step run by C loops (``map``, comprehensions). ``None`` means: use
    :func:`_general_batch`, which handles (and reports the errors of) everything else."""
    if not _body_only(items):
        return None
    n = len(items)
    try:
        bodies = list(map(_get_body, items))
    except KeyError:  # a message's one key is not "body"
        return None
    try:
        # orjson called by ``map`` with positional options (no Python frame, no keyword
        # dict per call). Its output buffers are copied to their exact size only for the
        # messages that wait in the queue (``UniformBatch.fit_waiting``), not for those
        # a consumer takes at once (for which, leased whole as they are sent, no
        # ``StoredMessage`` is even made: ``_QueueCore._take_at_once``).
        payloads = list(map(_dumps, bodies, repeat(None, n), repeat(_JSON_OPTIONS, n)))
    except TypeError:
        return None
    if _NULL in payloads:  # a None body (or NaN: it serializes alike): the general path
        return None
    joined = b"".join(payloads)
    check_encoded(bodies, payloads, joined)
    total = len(joined)
    # No message is over the single-message limit when all of them together are not: the
    # largest size is looked for only then (it is reported as the largest otherwise).
    largest = total if total <= _MAX_MESSAGE else max(map(len, payloads))
    # One system call for the batch's ids, cut into 32 hex characters each by C code.
    ids = _urandom(16 * n).hex(" ", 16).split(" ")
    records = sent_batch(ids, now, JSON, payloads, due, total)
    return records, total, largest


def _general_batch(
    items: list[Any],
    now: float,
    default_due: float,
    default_type: str = JSON,
    codes: bool = True,
) -> _Batch:
    """``sendBatch``'s per-message validation and serialization, for any input."""
    records: list[StoredMessage] = []
    ids = _urandom(16 * len(items)).hex()
    total = 0
    largest = 0
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise QueueTypeError(
                "sendBatch() expects messages shaped {body, contentType?, delaySeconds?}, "
                "but received: " + type(item).__name__
            )
        body = item.get("body")
        if body is None:
            raise QueueTypeError("Message body cannot be undefined")
        ctype = resolve_type(item.get("contentType"), default_type)
        payload, size = encode(body, ctype)  # sendBatch ran check_rpc on every item
        total += size
        largest = max(largest, size)
        msg_delay = item.get("delaySeconds")
        due = default_due if msg_delay is None else now + _delay(msg_delay, "sendBatch", codes)
        start = 32 * index
        records.append(StoredMessage(ids[start : start + 32], now, ctype, payload, due))
    return records, total, largest
