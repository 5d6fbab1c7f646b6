"""The fault-injection switchboard the bindings consult (the public face is cfemu.testing).

Bindings call :meth:`Faults.check` at their injection points, before doing any work, so an
injected failure changes nothing (a failed ``send`` enqueues nothing, a failed statement
writes nothing). Injection points and their targets:

========================  ===================  =============================================
point                     target               raised where
========================  ===================  =============================================
``"queue.send"``          queue name           ``send``/``sendBatch`` before enqueuing
``"d1.statement"``        database binding     before a statement or batch runs
``"ai.run"``              model name           ``env.AI.run`` before inference
``"kv.op"``               KV binding           every KV ``get``/``put``/``delete``/``list``
``"queue.consumer"``      queue name           see :meth:`Faults.take_consumer_crash`
========================  ===================  =============================================
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

__all__ = ["FaultRule", "Faults", "InjectedCrashError", "InjectedKvFaultError"]

ErrorFactory = Callable[[], BaseException]


@dataclass
class FaultRule:
    """One armed fault: each matching call fails with probability ``rate`` (1.0: always),
    at most ``times`` times (``None``: no limit), after letting ``skip`` calls through."""

    point: str
    target: str | None  # None: any target at this point
    make_error: ErrorFactory
    times: int | None = None  # failures left; None = unlimited
    rate: float = 1.0
    skip: int = 0  # let this many matching calls through first
    crash_after: int | None = None  # queue.consumer: crash after k handled messages
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def matches(self, point: str, target: str) -> bool:
        """Whether a call at ``point`` on ``target`` is one this rule may fail."""
        return self.point == point and (self.target is None or self.target == target)

    @property
    def exhausted(self) -> bool:
        """True once the rule has failed its ``times`` calls (it is then disarmed)."""
        return self.times is not None and self.times <= 0

    def fires(self) -> bool:
        """Whether this matching call fails (consumes ``skip`` and ``times``)."""
        if self.exhausted:
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.rate < 1.0 and self.rng.random() >= self.rate:
            return False
        if self.times is not None:
            self.times -= 1
        self.fired += 1
        return True


class Faults:
    """Armed faults plus counts of the ones that fired, per ``(point, target)``."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = []
        self.counts: Counter[tuple[str, str]] = Counter()
        #: Set by the emulator: the valid targets of an injection point (``None``: any), so
        #: a misspelt queue or binding is an error instead of a fault that never fires.
        self.known_targets: Callable[[str], Collection[str] | None] | None = None

    def __bool__(self) -> bool:
        return bool(self.rules)

    def add(self, rule: FaultRule) -> FaultRule:
        """Arm ``rule``. Probabilistic rules get an RNG seeded from this switchboard's seed."""
        rule.rng = random.Random(f"{self.seed}:{len(self.rules)}:{rule.point}:{rule.target}")
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Disarm every fault (counts are kept)."""
        self.rules.clear()

    def _fire(self, point: str, target: str, *, crash: bool = False) -> FaultRule | None:
        for rule in self.rules:
            if (rule.crash_after is not None) != crash or not rule.matches(point, target):
                continue
            if rule.fires():
                self.counts[(point, target)] += 1
                if rule.exhausted:
                    self.rules.remove(rule)
                return rule
        return None

    def check(self, point: str, target: str) -> None:
        """Raise the armed error for ``point``/``target`` if a fault fires now."""
        if not self.rules:
            return
        rule = self._fire(point, target)
        if rule is not None:
            raise rule.make_error()

    def take_consumer_crash(self, queue: str) -> tuple[int, ErrorFactory] | None:
        """For a consumer invocation on ``queue``: ``(k, error)`` if it must crash after k
        handled messages (the ``k+1``-th ``ack``/``retry`` call raises), else ``None``."""
        if not self.rules:
            return None
        rule = self._fire("queue.consumer", queue, crash=True)
        if rule is None or rule.crash_after is None:
            return None
        return rule.crash_after, rule.make_error

    def _arm(
        self,
        point: str,
        target: str | None,
        make_error: ErrorFactory,
        *,
        times: int | None,
        rate: float | None,
        skip: int = 0,
        crash_after: int | None = None,
    ) -> FaultRule:
        """Validate the arguments of an arming call, then add its rule."""
        if times is None and rate is None:
            times = 1  # the default: fail the next call
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 1
        ):
            raise ValueError(f"times must be a whole number >= 1 (or None), got {times!r}")
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1
        ):
            raise ValueError(f"rate must be a probability between 0 and 1, got {rate!r}")
        for name, value in (("skip", skip), ("after", crash_after)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
        known = self.known_targets(point) if self.known_targets and target else None
        if known is not None and target not in known:
            raise ValueError(
                f"no {_TARGET_KIND.get(point, point + ' target')} named {target!r} to inject "
                f"faults into; "
                f"known: {', '.join(sorted(known)) or 'none'}"
            )
        return self.add(
            FaultRule(
                point,
                target,
                make_error,
                times=times,
                rate=1.0 if rate is None else float(rate),
                skip=skip,
                crash_after=crash_after,
            )
        )

    def total(self) -> int:
        """Number of injected faults that fired so far."""
        return sum(self.counts.values())

    # -- the public arming API (cfemu's own names) -----------------------------------------
    def arm(
        self,
        point: str,
        target: str | None = None,
        *,
        error: ErrorFactory,
        times: int | None = None,
        rate: float | None = None,
        skip: int = 0,
    ) -> FaultRule:
        """Make calls at injection ``point`` on ``target`` (any if None) raise ``error()``.

        The generic form of the methods below, for every binding kind's own points (a kind
        documents its points and the error its callers see). ``times``, ``rate`` and
        ``skip`` mean what they mean for :meth:`queue_send`; a ``target`` the point does
        not know is a ValueError.
        """
        return self._arm(point, target, error, times=times, rate=rate, skip=skip)

    def queue_send(
        self,
        queue: str | None = None,
        *,
        times: int | None = None,
        rate: float | None = None,
        error: str = "Too Many Requests",
        skip: int = 0,
    ) -> FaultRule:
        """Make ``send``/``sendBatch`` to ``queue`` (any queue if None) fail.

        ``error`` is the queue service's status text; Cloudflare's real ones are
        ``Too Many Requests`` (throughput exceeded) and ``Storage Limit Exceeded``. The Worker
        sees ``QueueSendError("Queue send failed: <error>")`` (``Queue sendBatch failed:``
        from ``sendBatch``; ``<error> (<code>)`` from compatibility date 2026-03-12, with
        code 10250, 10251 or else 15000) and nothing is enqueued.
        By default the next call fails; ``times=N`` fails the next N calls; ``rate=0.2``
        fails each call with probability 0.2 (seeded), at most ``times`` times if given.
        ``skip=M`` lets M calls through first. A queue that does not exist is a ValueError.
        """
        from cfemu.errors import QueueSendError

        status = 429 if error == "Too Many Requests" else 507 if "Storage" in error else 500
        code = {429: 10250, 507: 10251}.get(status, 15000)  # spec: queues.md §8 error codes
        return self._arm(
            "queue.send",
            queue,
            lambda: QueueSendError(
                f"Queue send failed: {error}", status=status, cause=error, code=code
            ),
            times=times,
            rate=rate,
            skip=skip,
        )

    def d1_statement(
        self,
        binding: str | None = None,
        *,
        times: int | None = None,
        rate: float | None = None,
        error: str = "Network connection lost.",
        skip: int = 0,
    ) -> FaultRule:
        """Make D1 statements (and batches) on ``binding`` fail with a transient D1 error.

        D1's real transient errors include ``Network connection lost.``, ``D1 DB is
        overloaded. Too many requests queued.`` and ``D1 DB reset because its code was
        updated.``; the Worker sees ``D1Error("D1_ERROR: <error>")`` and nothing is written.
        """
        from cfemu.errors import D1Error

        return self._arm(
            "d1.statement", binding, lambda: D1Error(error), times=times, rate=rate, skip=skip
        )

    def ai_run(
        self,
        model: str | None = None,
        *,
        times: int | None = None,
        rate: float | None = None,
        error: str = "3040: Capacity temporarily exceeded, please try again.",
        skip: int = 0,
    ) -> FaultRule:
        """Make ``env.AI.run`` for ``model`` (any if None) raise ``InferenceUpstreamError``."""
        from cfemu.errors import InferenceUpstreamError

        return self._arm(
            "ai.run",
            model,
            lambda: InferenceUpstreamError(error),
            times=times,
            rate=rate,
            skip=skip,
        )

    def kv_op(
        self,
        binding: str | None = None,
        *,
        times: int | None = None,
        rate: float | None = None,
        error: str = "503 Service Unavailable",
        skip: int = 0,
    ) -> FaultRule:
        """Make operations on the KV binding ``binding`` (any if None) fail.

        ``error`` is the KV service's answer, ``"<status> <text>"``; the Worker sees
        ``KvError("KV <METHOD> failed: <error>")`` (``GET``, ``GET_BULK``, ``PUT`` or
        ``DELETE``; ``list`` is a ``GET``) and nothing is written. Production's rate limit
        of writes to one key answers ``429 Too Many Requests``.
        """
        status_text, _, text = error.partition(" ")
        try:
            status = int(status_text)
        except ValueError:
            raise ValueError(f"error must be '<status> <text>', got {error!r}") from None
        return self._arm(
            "kv.op",
            binding,
            lambda: InjectedKvFaultError(status, text),
            times=times,
            rate=rate,
            skip=skip,
        )

    def consumer_crash(
        self,
        queue: str | None = None,
        *,
        after: int = 0,
        times: int | None = None,
        rate: float | None = None,
    ) -> FaultRule:
        """Make a consumer invocation on ``queue`` crash after handling ``after`` messages.

        The invocation's ``after + 1``-th ``ack()``/``retry()`` call raises, as if the Worker
        crashed there: the batch fails, and only messages acked before the crash stay acked.
        """
        return self._arm(
            "queue.consumer",
            queue,
            lambda: InjectedCrashError(f"injected crash after handling {after} message(s)"),
            times=times,
            rate=rate,
            crash_after=after,
        )


_TARGET_KIND = {
    "queue.send": "queue",
    "queue.consumer": "queue",
    "d1.statement": "D1 binding",
    "ai.run": "model",
    "kv.op": "KV binding",
}


class InjectedCrashError(RuntimeError):
    """The error an injected consumer crash raises inside the handler."""


class InjectedKvFaultError(Exception):
    """An armed KV fault; the KV binding turns it into ``KvError("KV <METHOD> failed: ...")``."""

    def __init__(self, status: int, status_text: str) -> None:
        self.status = status
        self.status_text = status_text
        super().__init__(f"{status} {status_text}")
