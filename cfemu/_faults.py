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
``"queue.consumer"``      queue name           see :meth:`Faults.take_consumer_crash`
========================  ===================  =============================================
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["FaultRule", "Faults", "InjectedCrashError"]

ErrorFactory = Callable[[], BaseException]


@dataclass
class FaultRule:
    """One armed fault: fail ``times`` calls (deterministic) or each call with ``rate``."""

    point: str
    target: str | None  # None: any target at this point
    make_error: ErrorFactory
    times: int | None = None  # remaining deterministic failures; None = probabilistic
    rate: float = 0.0
    skip: int = 0  # let this many matching calls through first
    crash_after: int | None = None  # queue.consumer: crash after k handled messages
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def matches(self, point: str, target: str) -> bool:
        return self.point == point and (self.target is None or self.target == target)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.times <= 0


class Faults:
    """Armed faults plus counts of the ones that fired, per ``(point, target)``."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = []
        self.counts: Counter[tuple[str, str]] = Counter()

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

    def _fire(self, point: str, target: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.crash_after is not None or not rule.matches(point, target):
                continue
            if rule.skip > 0:
                rule.skip -= 1
                continue
            if rule.times is not None:
                if rule.times <= 0:
                    continue
                rule.times -= 1
            elif rule.rng.random() >= rule.rate:
                continue
            rule.fired += 1
            self.counts[(point, target)] += 1
            return rule
        return None

    def check(self, point: str, target: str) -> None:
        """Raise the armed error for ``point``/``target`` if a fault fires now."""
        if not self.rules:
            return
        rule = self._fire(point, target)
        if rule is not None:
            if rule.exhausted:
                self.rules.remove(rule)
            raise rule.make_error()

    def take_consumer_crash(self, queue: str) -> tuple[int, ErrorFactory] | None:
        """For a consumer invocation on ``queue``: ``(k, error)`` if it must crash after k
        handled messages (the ``k+1``-th ``ack``/``retry`` call raises), else ``None``."""
        if not self.rules:
            return None
        for rule in self.rules:
            if rule.crash_after is None or not rule.matches("queue.consumer", queue):
                continue
            if rule.times is not None:
                if rule.times <= 0:
                    continue
                rule.times -= 1
            elif rule.rng.random() >= rule.rate:
                continue
            rule.fired += 1
            self.counts[("queue.consumer", queue)] += 1
            if rule.exhausted:
                self.rules.remove(rule)
            return rule.crash_after, rule.make_error
        return None

    def total(self) -> int:
        """Number of injected faults that fired so far."""
        return sum(self.counts.values())

    # -- the public arming API (cfemu's own names) -----------------------------------------
    def queue_send(
        self,
        queue: str | None = None,
        *,
        times: int | None = 1,
        rate: float = 0.0,
        error: str = "Too Many Requests",
        skip: int = 0,
    ) -> FaultRule:
        """Make ``send``/``sendBatch`` to ``queue`` (any queue if None) fail.

        ``error`` is the queue service's status text; Cloudflare's real ones are
        ``Too Many Requests`` (throughput exceeded) and ``Storage Limit Exceeded``. The Worker
        sees ``QueueSendError("Queue send failed: <error>")`` and nothing is enqueued.
        ``times=N`` fails the next N calls; ``times=None, rate=0.2`` fails each call with
        probability 0.2 (seeded).
        """
        from cfemu.errors import QueueSendError

        status = 429 if error == "Too Many Requests" else 507 if "Storage" in error else 500
        return self.add(
            FaultRule(
                "queue.send",
                queue,
                lambda: QueueSendError(f"Queue send failed: {error}", status=status),
                times=times,
                rate=rate,
                skip=skip,
            )
        )

    def d1_statement(
        self,
        binding: str | None = None,
        *,
        times: int | None = 1,
        rate: float = 0.0,
        error: str = "Network connection lost.",
        skip: int = 0,
    ) -> FaultRule:
        """Make D1 statements (and batches) on ``binding`` fail with a transient D1 error.

        D1's real transient errors include ``Network connection lost.``, ``D1 DB is
        overloaded. Too many requests queued.`` and ``D1 DB reset because its code was
        updated.``; the Worker sees ``D1Error("D1_ERROR: <error>")`` and nothing is written.
        """
        from cfemu.errors import D1Error

        return self.add(
            FaultRule(
                "d1.statement",
                binding,
                lambda: D1Error(error),
                times=times,
                rate=rate,
                skip=skip,
            )
        )

    def ai_run(
        self,
        model: str | None = None,
        *,
        times: int | None = 1,
        rate: float = 0.0,
        error: str = "3040: Capacity temporarily exceeded, please try again.",
        skip: int = 0,
    ) -> FaultRule:
        """Make ``env.AI.run`` for ``model`` (any if None) raise ``InferenceUpstreamError``."""
        from cfemu.errors import InferenceUpstreamError

        return self.add(
            FaultRule(
                "ai.run",
                model,
                lambda: InferenceUpstreamError(error),
                times=times,
                rate=rate,
                skip=skip,
            )
        )

    def consumer_crash(
        self,
        queue: str | None = None,
        *,
        after: int = 0,
        times: int | None = 1,
        rate: float = 0.0,
    ) -> FaultRule:
        """Make a consumer invocation on ``queue`` crash after handling ``after`` messages.

        The invocation's ``after + 1``-th ``ack()``/``retry()`` call raises, as if the Worker
        crashed there: the batch fails, and only messages acked before the crash stay acked.
        """
        return self.add(
            FaultRule(
                "queue.consumer",
                queue,
                lambda: InjectedCrashError(f"injected crash after handling {after} message(s)"),
                times=times,
                rate=rate,
                crash_after=after,
            )
        )


class InjectedCrashError(RuntimeError):
    """The error an injected consumer crash raises inside the handler."""
