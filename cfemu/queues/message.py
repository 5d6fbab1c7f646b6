"""What a consumer's ``queue(batch)`` handler receives: :class:`MessageBatch` and :class:`Message`.

Names are Cloudflare's (``ackAll``, ``retryAll``, ``delaySeconds``). Calls only *record* the
handler's decisions; the broker resolves them when the invocation ends (spec: queues.md §4.2,
§4.3), following workerd: the first of ``ack()``/``retry()`` on a message wins, a per-message
call beats a later ``ackAll()``/``retryAll()``, and ignored calls log workerd's warnings on the
``cfemu.queues`` logger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import repeat, starmap
from math import floor
from typing import TYPE_CHECKING, Any, Final

from cfemu import limits
from cfemu._js import JsDict
from cfemu.errors import QueueError, QueueTypeError
from cfemu.queues._codec import JSON, _loads, decode
from cfemu.queues.stored_message import UniformBatch

if TYPE_CHECKING:
    from cfemu.queues.store import StoredMessage

__all__ = ["Message", "MessageBatch"]

logger = logging.getLogger("cfemu.queues")

# A message's own verdict (set by its first effective ack()/retry()).
NONE: Final = 0
ACK: Final = 1
RETRY: Final = 2


def _decode_all(records: Sequence[StoredMessage]) -> list[Any]:
    """Fresh bodies for one delivery; JSON bodies of a batch are parsed in one call."""
    payloads = [rec.payload for rec in records if rec.content_type == JSON]
    if len(payloads) == len(records):
        bodies: list[Any] = _loads(b"[" + b",".join(payloads) + b"]")  # type: ignore[arg-type]
        return bodies
    return [decode(rec.content_type, rec.payload) for rec in records]


def _first_messages(
    batch: UniformBatch, decisions: _Decisions, bodies: Sequence[Any] | None
) -> list[Message]:
    """The messages of a pending batch leased as it was sent (no ``StoredMessage`` made for
    them: see :class:`~cfemu.queues.stored_message.UniformBatch`), on their first attempt."""
    ids = batch.ids
    payloads = batch.payloads
    assert ids is not None and payloads is not None
    if bodies is None:
        ctype = batch.content_type
        if ctype == JSON:
            bodies = _loads(b"[" + b",".join(payloads) + b"]")
        else:
            bodies = [decode(ctype, payload) for payload in payloads]
    sent = batch.sent
    messages: list[Message] = list(starmap(Message, repeat((), len(ids))))
    # (no ``strict=True``: the lengths match by construction, and on Python 3.11 a keyword
    # to ``zip`` costs a parse of its arguments, ~300 ns a call)
    for msg, id_, body in zip(messages, ids, bodies):  # noqa: B905
        msg.id = id_
        msg.attempts = 1
        msg.body = body
        msg._sent = sent
        msg._decisions = decisions
        msg._verdict = NONE
    return messages


def retry_delay_option(value: object) -> int | None:
    """``retry(delaySeconds=...)``'s argument: a number, ``None``, or (as Python Workers pass a
    positional dict on as the JS options object) ``{"delaySeconds": n}``."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("delaySeconds")  # the runtime ignores unknown option keys
        if value is None:
            return None
    return check_delay(value)


def check_delay(value: object, what: str = "delaySeconds") -> int:
    """Validate a delay in seconds: an integer 0..43200 (spec: queues.md §2)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueueTypeError(
            f"{what} must be a number of seconds, but received: {type(value).__name__}"
        )
    if (
        value != value  # NaN
        or not float(value).is_integer()
        or not limits.MIN_DELAY_SECONDS <= value <= limits.MAX_DELAY_SECONDS
    ):
        raise QueueError(
            f"message delay {value} is invalid: {what} must be an integer between "
            f"{limits.MIN_DELAY_SECONDS} and {limits.MAX_DELAY_SECONDS}"
        )
    return int(value)


class _Decisions:
    """The batch-wide decisions of one delivery, shared by the batch and its messages.

    Kept apart from :class:`MessageBatch` so that a :class:`Message` never refers to its
    batch: a batch and its messages form no reference cycle and are freed by reference
    counting when the invocation ends, not left for the cyclic garbage collector (which,
    with a batch of 100, ran every few batches and kept every delivered message alive until
    it did).
    """

    __slots__ = ("ack_all", "calls", "crash", "log", "plain", "retries", "retry_all", "retry_delay")

    def __init__(
        self, crash: tuple[int, Callable[[], BaseException]] | None, log: logging.Logger
    ) -> None:
        self.log = log
        self.ack_all = False
        self.retry_all = False
        self.retry_delay: int | None = None  # retryAll(delaySeconds=...)
        self.retries = 0  # messages with an effective retry() of their own
        self.crash = crash
        self.calls = 0
        #: No crash armed and neither ackAll() nor retryAll() called: ack() just records.
        self.plain = crash is None

    def tick(self) -> None:
        """Injected consumer crash: the (k+1)-th ``ack``/``retry`` call of the batch raises."""
        assert self.crash is not None
        after, make_error = self.crash
        self.calls += 1
        if self.calls > after:
            raise make_error()


class Message:
    """One message of a batch, as a consumer sees it.

    ``id`` (32 hex characters), ``timestamp`` (aware UTC ``datetime`` of the send), ``body``
    (a fresh deserialized value per delivery) and ``attempts`` (1 on first delivery) mirror
    Cloudflare's ``Message``. ``ack()`` and ``retry(delaySeconds=...)`` record a decision.

    Made by :class:`MessageBatch` only (as on Cloudflare, a Worker never constructs one):
    without an ``__init__``, so that a batch makes its messages by a C loop (``Message()``
    runs no Python code) and fills them in.
    """

    __slots__ = ("_decisions", "_delay", "_sent", "_verdict", "attempts", "body", "id")

    id: str
    attempts: int
    body: Any
    """The message body, deserialized for this delivery."""
    _sent: float  # the send time (clock seconds), as the store keeps it
    _decisions: _Decisions
    _verdict: int
    _delay: int | None  # set by retry(), and read only after it

    @property
    def timestamp(self) -> datetime:
        """When the message was sent (UTC, millisecond precision, from the broker's clock)."""
        return datetime.fromtimestamp(floor(self._sent * 1000) / 1000, UTC)

    def ack(self) -> None:
        """Mark this message delivered: it is not redelivered, even if the handler then raises."""
        decisions = self._decisions
        if decisions.plain and self._verdict == NONE:  # no crash armed, no ackAll/retryAll yet
            self._verdict = ACK
            return
        if decisions.crash is not None:
            decisions.tick()
        if decisions.ack_all:
            return
        if decisions.retry_all:
            decisions.log.warning(
                "Received a call to ack() on message %s after retryAll() was already called. "
                "Calling ack() on a message after calling retryAll() has no effect.",
                self.id,
            )
            return
        if self._verdict == RETRY:
            decisions.log.warning(
                "Received a call to ack() on message %s after retry() was already called. "
                "Calling ack() on a message after calling retry() has no effect.",
                self.id,
            )
            return
        self._verdict = ACK

    def retry(self, delaySeconds: int | Mapping[str, Any] | None = None) -> None:
        """Mark this message for redelivery, after ``delaySeconds`` (else the consumer's
        ``retry_delay``)."""
        delay = None if delaySeconds is None else retry_delay_option(delaySeconds)
        decisions = self._decisions
        if decisions.crash is not None:
            decisions.tick()
        if decisions.ack_all:
            decisions.log.warning(
                "Received a call to retry() on message %s after ackAll() was already called. "
                "Calling retry() on a message after calling ackAll() has no effect.",
                self.id,
            )
            return
        if self._verdict == ACK:
            decisions.log.warning(
                "Received a call to retry() on message %s after ack() was already called. "
                "Calling retry() on a message after calling ack() has no effect.",
                self.id,
            )
            return
        # A repeated retry() replaces the earlier one's options, as in workerd.
        if self._verdict == NONE:
            decisions.retries += 1
        self._verdict = RETRY
        self._delay = delay

    def __repr__(self) -> str:
        return f"<Message {self.id} attempts={self.attempts}>"


class MessageBatch:
    """The batch a consumer's ``queue(batch)`` handler receives.

    ``queue`` names the source queue (a consumer may serve several), ``messages`` is the list
    of :class:`Message`. ``ackAll()``/``retryAll(delaySeconds=...)`` decide for every message
    that has no decision of its own.
    """

    __slots__ = ("_decisions", "_metadata", "_records", "messages", "queue")

    def __init__(
        self,
        queue: str,
        records: Sequence[StoredMessage],
        *,
        metadata: Callable[[], JsDict] | None = None,
        crash: tuple[int, Callable[[], BaseException]] | None = None,
        log: logging.Logger = logger,
        bodies: Sequence[Any] | None = None,
    ) -> None:
        self.queue: str = queue
        self._metadata = metadata
        self._records = records  # the delivery's records, in the order of ``messages``
        self._decisions = decisions = _Decisions(crash, log)
        if type(records) is UniformBatch and records.ids is not None:
            self.messages: list[Message] = _first_messages(records, decisions, bodies)
            return
        if bodies is None:
            bodies = _decode_all(records)
        # One Message per record, made by a C loop (``Message`` has no ``__init__``: no
        # Python call each, no argument tuple), then filled in.
        messages: list[Message] = list(starmap(Message, repeat((), len(records))))
        for msg, record, body in zip(messages, records, bodies):  # noqa: B905 (as above)
            msg.id = record.id
            msg.attempts = record.attempts
            msg.body = body
            msg._sent = record.sent
            msg._decisions = decisions
            msg._verdict = NONE
            # ``_delay`` is set by retry(), and read only after it.
        self.messages = messages

    @property
    def metadata(self) -> JsDict:
        """``{"metrics": {backlogCount, backlogBytes, oldestMessageTimestamp}}`` of the queue
        (computed when read; a runtime-only field of Cloudflare's batch)."""
        if self._metadata is None:
            return JsDict(metrics=JsDict(backlogCount=0, backlogBytes=0))
        return self._metadata()

    def ackAll(self) -> None:
        """Mark every message without its own decision delivered."""
        decisions = self._decisions
        if decisions.retry_all:
            decisions.log.warning(
                "Received a call to ackAll() after retryAll() was already called. "
                "Calling ackAll() after calling retryAll() has no effect."
            )
            return
        decisions.ack_all = True
        decisions.plain = False

    def retryAll(self, delaySeconds: int | Mapping[str, Any] | None = None) -> None:
        """Mark every message without its own decision for redelivery, after ``delaySeconds``."""
        delay = None if delaySeconds is None else retry_delay_option(delaySeconds)
        decisions = self._decisions
        if decisions.ack_all:
            decisions.log.warning(
                "Received a call to retryAll() after ackAll() was already called. "
                "Calling retryAll() after calling ackAll() has no effect."
            )
            return
        decisions.retry_all = True
        decisions.plain = False
        if delay is not None:
            decisions.retry_delay = delay

    def __len__(self) -> int:
        return len(self.messages)

    def __repr__(self) -> str:
        return f"<MessageBatch queue={self.queue!r} messages={len(self.messages)}>"
