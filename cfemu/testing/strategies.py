"""Hypothesis strategies for property tests of queue consumers (``pip install hypothesis``).

This module imports hypothesis; nothing else in cfemu does, so hypothesis stays a test
dependency. What it offers:

- Message bodies per content type (:func:`message_bodies`, :func:`typed_bodies`,
  :func:`send_requests`) that a producer's ``send``/``sendBatch`` accepts and a consumer gets
  back equal.
- Consumer configurations within Cloudflare's limits: :func:`consumer_settings`
  (:class:`cfemu.queues.ConsumerSettings`) and :func:`wrangler_consumers` (a
  ``[[queues.consumers]]`` entry as a dict).
- Handler plans: :func:`handler_plans` draws a :class:`HandlerPlan` (what a consumer does with
  each message on each attempt: ack, retry with or without a delay, nothing, or raise), and
  :func:`make_handler` turns a plan into a consumer handler that runs your own code on every
  message before following the plan.

Every strategy parameter accepts a fixed value or a strategy.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal, TypeVar

from hypothesis import strategies as st

from cfemu import limits
from cfemu.queues import ConsumerSettings, Message, MessageBatch

__all__ = [
    "CONTENT_TYPES",
    "HandlerPlan",
    "PlannedError",
    "PlannedHandler",
    "Step",
    "consumer_settings",
    "delays",
    "handler_plans",
    "json_values",
    "make_handler",
    "message_bodies",
    "queue_names",
    "send_requests",
    "steps",
    "typed_bodies",
    "wrangler_consumers",
]

T = TypeVar("T")

#: The content types a producer accepts.
CONTENT_TYPES: tuple[str, ...] = ("json", "text", "bytes", "v8")

#: JavaScript numbers are doubles: integers beyond this lose precision on Cloudflare.
MAX_SAFE_INTEGER = 2**53 - 1


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Any = _Unset()


def _as_strategy(value: Any, default: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    if value is _UNSET:
        return default
    if isinstance(value, st.SearchStrategy):
        return value
    return st.just(value)


# --- bodies ----------------------------------------------------------------------------------
_NO_SURROGATES = st.characters(exclude_categories=["Cs"])  # orjson refuses lone surrogates
_TEXT = st.text(_NO_SURROGATES, max_size=40)


def json_values(*, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Values that survive a JSON round trip unchanged: ``None``, booleans, integers within
    JavaScript's safe range, finite floats, strings, and lists and string-keyed dicts of
    them."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
        | st.floats(allow_nan=False, allow_infinity=False)
        | _TEXT
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(_TEXT, children, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def _v8_values(max_leaves: int) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | _TEXT
        | st.binary(max_size=40)
        | st.datetimes(timezones=st.just(UTC))
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(st.integers() | _TEXT, children, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def message_bodies(
    content_type: str | st.SearchStrategy[str] = "json", *, max_leaves: int = 12
) -> st.SearchStrategy[Any]:
    """Bodies a producer can send as ``content_type`` and a consumer receives equal:

    - ``json``: :func:`json_values` (but not a bare ``None``, which ``send`` refuses);
    - ``text``: strings; ``bytes``: byte strings;
    - ``v8``: structured-clone values (see ``docs/queues.md``): ``json`` values plus bytes,
      aware datetimes, any integer and integer dict keys (no tuples: Cloudflare's Python SDK
      refuses them at the binding).

    ``content_type`` may be a strategy; then draw (type, body) pairs with :func:`typed_bodies`
    instead if the test needs to know the type.
    """
    if isinstance(content_type, st.SearchStrategy):
        return content_type.flatmap(lambda ct: message_bodies(ct, max_leaves=max_leaves))
    if content_type == "json":
        return json_values(max_leaves=max_leaves).filter(lambda body: body is not None)
    if content_type == "text":
        return st.text(_NO_SURROGATES, max_size=200)
    if content_type == "bytes":
        return st.binary(max_size=200)
    if content_type == "v8":
        return _v8_values(max_leaves).filter(lambda body: body is not None)
    raise ValueError(f"unknown content type {content_type!r}; expected one of {CONTENT_TYPES}")


def typed_bodies(
    content_types: str | st.SearchStrategy[str] = _UNSET,
) -> st.SearchStrategy[tuple[str, Any]]:
    """``(contentType, body)`` pairs, for ``send(body, contentType=...)`` (default: any of
    :data:`CONTENT_TYPES`)."""
    types = _as_strategy(content_types, st.sampled_from(CONTENT_TYPES))
    return types.flatmap(lambda ct: st.tuples(st.just(ct), message_bodies(ct)))


def delays(max_seconds: int = limits.MAX_DELAY_SECONDS) -> st.SearchStrategy[int]:
    """Delays in whole seconds, ``0..max_seconds`` (Cloudflare's maximum: 12 hours)."""
    if not limits.MIN_DELAY_SECONDS <= max_seconds <= limits.MAX_DELAY_SECONDS:
        raise ValueError(f"max_seconds must be within 0..{limits.MAX_DELAY_SECONDS}")
    return st.integers(limits.MIN_DELAY_SECONDS, max_seconds)


def send_requests(
    content_types: str | st.SearchStrategy[str] = _UNSET,
    *,
    delay: int | st.SearchStrategy[int | None] | None = _UNSET,
) -> st.SearchStrategy[dict[str, Any]]:
    """``sendBatch`` entries: ``{"body", "contentType"}`` and sometimes ``"delaySeconds"``.

    ``delay=None`` never sets a delay; a number always sets that one.
    """
    types = _as_strategy(content_types, st.sampled_from(CONTENT_TYPES))
    delay_strategy: st.SearchStrategy[int | None] = _as_strategy(delay, st.none() | delays(3600))

    def build(typed: tuple[str, Any], seconds: int | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"body": typed[1], "contentType": typed[0]}
        if seconds is not None:
            entry["delaySeconds"] = seconds
        return entry

    return st.builds(build, typed_bodies(types), delay_strategy)


# --- consumer configuration ------------------------------------------------------------------
def queue_names() -> st.SearchStrategy[str]:
    """Valid queue names: lowercase letters, digits and dashes, 1-63 characters."""
    return st.from_regex(limits.QUEUE_NAME_PATTERN, fullmatch=True)


def _batch_timeouts() -> st.SearchStrategy[float]:
    return st.sampled_from([0.0, 0.5, 1.0, 5.0, 30.0, 60.0]) | st.floats(
        limits.MIN_MAX_BATCH_TIMEOUT, limits.MAX_MAX_BATCH_TIMEOUT, allow_nan=False
    )


def consumer_settings(
    *,
    max_batch_size: int | st.SearchStrategy[int] = _UNSET,
    max_batch_timeout: float | st.SearchStrategy[float] = _UNSET,
    max_retries: int | st.SearchStrategy[int] = _UNSET,
    dead_letter_queue: str | st.SearchStrategy[str | None] | None = _UNSET,
    max_concurrency: int | st.SearchStrategy[int | None] | None = _UNSET,
    retry_delay: int | st.SearchStrategy[int] = _UNSET,
) -> st.SearchStrategy[ConsumerSettings]:
    """:class:`~cfemu.queues.ConsumerSettings` within Cloudflare's limits.

    Defaults: batch size 1-100, batch timeout 0-60 s, retries 0-10 (Cloudflare allows up to
    100; more attempts only make examples slower), dead-letter queue ``None`` or
    ``"dlq"``, concurrency unset or 1-10, retry delay 0 s to 1 h. Pass a value or a strategy
    to override any of them.
    """
    return st.builds(
        ConsumerSettings,
        max_batch_size=_as_strategy(
            max_batch_size, st.integers(limits.MIN_MAX_BATCH_SIZE, limits.MAX_MAX_BATCH_SIZE)
        ),
        max_batch_timeout=_as_strategy(max_batch_timeout, _batch_timeouts()),
        max_retries=_as_strategy(max_retries, st.integers(limits.MIN_MAX_RETRIES, 10)),
        dead_letter_queue=_as_strategy(dead_letter_queue, st.sampled_from([None, "dlq"])),
        max_concurrency=_as_strategy(max_concurrency, st.none() | st.integers(1, 10)),
        retry_delay=_as_strategy(retry_delay, st.sampled_from([0, 1, 30]) | delays(3600)),
    )


def wrangler_consumers(
    queue: str | st.SearchStrategy[str] = "jobs",
    *,
    settings: st.SearchStrategy[ConsumerSettings] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """A ``[[queues.consumers]]`` entry as a dict (wrangler's keys), within Cloudflare's
    limits; keys at their default are sometimes left out, as people write them."""
    queues = _as_strategy(queue, st.just("jobs"))
    source = settings if settings is not None else consumer_settings()

    def build(name: str, s: ConsumerSettings, keep: list[bool]) -> dict[str, Any]:
        values: dict[str, Any] = {
            "max_batch_size": s.max_batch_size,
            "max_batch_timeout": s.max_batch_timeout,
            "max_retries": s.max_retries,
            "dead_letter_queue": s.dead_letter_queue,
            "max_concurrency": s.max_concurrency,
            "retry_delay": s.retry_delay,
        }
        entry: dict[str, Any] = {"queue": name}
        for (key, value), kept in zip(values.items(), keep, strict=True):
            if value is not None and (kept or value != _DEFAULTS[key]):
                entry[key] = value
        return entry

    return st.builds(build, queues, source, st.lists(st.booleans(), min_size=6, max_size=6))


_DEFAULTS: dict[str, Any] = {
    "max_batch_size": limits.DEFAULT_MAX_BATCH_SIZE,
    "max_batch_timeout": limits.DEFAULT_MAX_BATCH_TIMEOUT,
    "max_retries": limits.DEFAULT_MAX_RETRIES,
    "dead_letter_queue": None,
    "max_concurrency": None,
    "retry_delay": 0,
}


# --- handler plans ---------------------------------------------------------------------------
Action = Literal["ack", "retry", "none", "raise"]
BatchCall = Literal["none", "ackAll", "retryAll"]


@dataclass(frozen=True)
class Step:
    """What a planned handler does with one message on one attempt.

    ``ack``: ``msg.ack()``; ``retry``: ``msg.retry(delaySeconds=delay)`` (``delay=None``:
    the consumer's ``retry_delay``); ``none``: no call (the batch's outcome decides); ``raise``:
    the handler raises :class:`PlannedError` there, failing the invocation.
    """

    action: Action
    delay: int | None = None


class PlannedError(RuntimeError):
    """What a planned handler raises for a ``raise`` step."""


@dataclass(frozen=True)
class HandlerPlan:
    """A consumer's behaviour: ``steps[i][a - 1]`` for message ``i`` on attempt ``a``.

    Past its listed steps a message gets ``default``. After the per-message steps of an
    invocation, ``batch_call`` (``ackAll``/``retryAll``, with ``retry_all_delay``) is made if
    set; per-message decisions win over it, as on Cloudflare.
    """

    steps: tuple[tuple[Step, ...], ...]
    default: Step = Step("ack")
    batch_call: BatchCall = "none"
    retry_all_delay: int | None = None

    def step(self, index: int, attempt: int) -> Step:
        """The step for message ``index`` on attempt ``attempt`` (1-based)."""
        if 0 <= index < len(self.steps):
            own = self.steps[index]
            if 1 <= attempt <= len(own):
                return own[attempt - 1]
        return self.default

    @property
    def independent(self) -> bool:
        """True when each message's fate depends only on its own steps (no ``raise``, no
        batch-wide call), so :meth:`expected` can predict it whatever the batching."""
        if self.batch_call != "none" or self.default.action in ("raise", "retry"):
            return False
        return all(s.action != "raise" for own in self.steps for s in own)

    def expected(self, index: int, max_retries: int) -> tuple[Literal["acked", "failed"], int]:
        """For an :attr:`independent` plan: ``("acked", attempt)`` when message ``index`` is
        acked on that attempt, or ``("failed", max_retries + 1)`` when its retries run out
        (it goes to the dead-letter queue, or is dropped without one)."""
        if not self.independent:
            raise ValueError("expected() needs an independent plan (no raise, no batch call)")
        for attempt in range(1, max_retries + 2):
            if self.step(index, attempt).action != "retry":
                return "acked", attempt
        return "failed", max_retries + 1


def steps(
    *,
    actions: tuple[Action, ...] = ("ack", "retry", "none", "raise"),
    delay: int | st.SearchStrategy[int | None] | None = _UNSET,
) -> st.SearchStrategy[Step]:
    """One :class:`Step`, its action among ``actions``; retries get ``delay`` (default: none
    or 0-600 s)."""
    delay_strategy: st.SearchStrategy[int | None] = _as_strategy(
        delay, st.none() | st.integers(0, 600)
    )
    return st.sampled_from(actions).flatmap(
        lambda action: (
            st.builds(Step, st.just(action), delay_strategy)
            if action == "retry"
            else st.just(Step(action))
        )
    )


def handler_plans(
    *,
    messages: int = 10,
    max_attempts: int = 4,
    actions: tuple[Action, ...] = ("ack", "retry", "none", "raise"),
    batch_calls: tuple[BatchCall, ...] = ("none", "ackAll", "retryAll"),
    delay: int | st.SearchStrategy[int | None] | None = _UNSET,
    independent: bool = False,
) -> st.SearchStrategy[HandlerPlan]:
    """:class:`HandlerPlan` for messages ``0..messages-1`` with up to ``max_attempts`` steps
    each (later attempts ack). ``independent=True`` draws only plans whose outcome
    :meth:`HandlerPlan.expected` predicts (no ``raise``, no batch-wide call)."""
    if independent:
        actions = tuple(a for a in actions if a != "raise") or ("ack",)
        batch_calls = ("none",)
    step = steps(actions=actions, delay=delay)
    return st.builds(
        HandlerPlan,
        steps=st.lists(
            st.lists(step, max_size=max_attempts).map(tuple), min_size=messages, max_size=messages
        ).map(tuple),
        default=st.just(Step("ack")),
        batch_call=st.sampled_from(batch_calls),
        retry_all_delay=st.none() | st.integers(0, 600),
    )


Process = Callable[[Message], Awaitable[None] | None]


def _default_key(msg: Message) -> int:
    body = msg.body
    if isinstance(body, int) and not isinstance(body, bool):
        return body
    if isinstance(body, Mapping) and isinstance(body.get("i"), int):
        return int(body["i"])
    raise TypeError(
        "make_handler() finds a message's plan index in an int body or a body's 'i' key; "
        f"pass key=... for bodies like {body!r}"
    )


class PlannedHandler:
    """A consumer handler following a :class:`HandlerPlan` (see :func:`make_handler`).

    ``calls`` records ``(index, attempt, action)`` for every message it handled, in order;
    ``invocations`` counts the batches it received.
    """

    def __init__(
        self, plan: HandlerPlan, key: Callable[[Message], int], process: Process | None
    ) -> None:
        self.plan = plan
        self.key = key
        self.process = process
        self.calls: list[tuple[int, int, Action]] = []
        self.invocations = 0

    async def __call__(self, batch: MessageBatch) -> None:
        """Handle one batch: run ``process`` on each message, then follow its step."""
        self.invocations += 1
        plan = self.plan
        for msg in batch.messages:
            index = self.key(msg)
            if self.process is not None:
                result = self.process(msg)
                if inspect.isawaitable(result):
                    await result
            step = plan.step(index, msg.attempts)
            self.calls.append((index, msg.attempts, step.action))
            if step.action == "ack":
                msg.ack()
            elif step.action == "retry":
                msg.retry(delaySeconds=step.delay)
            elif step.action == "raise":
                raise PlannedError(f"planned failure at message {index}, attempt {msg.attempts}")
        if plan.batch_call == "ackAll":
            batch.ackAll()
        elif plan.batch_call == "retryAll":
            batch.retryAll(delaySeconds=plan.retry_all_delay)

    def attempts_of(self, index: int) -> list[int]:
        """The attempts on which message ``index`` reached the handler."""
        return [attempt for i, attempt, _ in self.calls if i == index]


def make_handler(
    plan: HandlerPlan,
    *,
    key: Callable[[Message], int] = _default_key,
    process: Process | None = None,
) -> PlannedHandler:
    """A consumer handler (``async (batch) -> None``) that follows ``plan``.

    For each message of a batch it calls ``process(msg)`` (your code under test; sync or
    async; if it raises, the invocation fails), then does the plan's step for
    ``(key(msg), msg.attempts)``. ``key`` gives the message's index in the plan (default: an
    int body, or a dict body's ``"i"``). Use it as a broker consumer
    (``broker.set_consumer(queue, settings, handler)``) or from a Worker's ``queue`` method.
    """
    return PlannedHandler(plan, key, process)
