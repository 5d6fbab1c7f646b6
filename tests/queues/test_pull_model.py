"""Stateful property test: HTTP pull consumers against a reference model of their semantics.

Hypothesis drives sends (with delays), pulls (batch sizes, visibility timeouts), acks and
retries of held leases (valid, expired or already used), and clock moves, over random
consumer settings (max_retries, retry_delay, a dead-letter queue or none). The model decides
independently of the broker: which messages a pull may lease (ready or due, not leased),
each lease's attempt number, what an ack or retry does to a valid lease and that an expired
or used one changes nothing, that an expired lease is a failed attempt (retried after
``retry_delay``, or dead-lettered / dropped after the last). After every step the backlog,
the dead-letter queue and the counters must agree. In memory and on the SQLite store.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cfemu.queues import Broker
from cfemu.queues._codec import decode
from cfemu.queues.pull import PullConsumer, PulledMessage, PullSettings
from tests.queues.harness import Harness

QUEUE = "pulled"
DLQ = "pulled-dlq"


@dataclass
class Model:
    body: int
    attempts: int = 0
    state: str = "delayed"  # delayed | leased | done | dead | dropped
    due: float = 0.0
    lease: str | None = None
    expires: float = 0.0


class PullMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.h = Harness()
        self.messages: dict[int, Model] = {}
        self.held: list[str] = []  # every lease id a pull handed out, valid or not
        self.next_body = 0
        self.acked = self.dead = self.dropped = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.h.broker.aclose())
            self.run(self.h.tracker.aclose())
        finally:
            self.loop.close()

    @property
    def now(self) -> float:
        return self.h.clock.now()

    @initialize(
        max_retries=st.integers(0, 3),
        retry_delay=st.integers(0, 3),
        dead_letter=st.booleans(),
    )
    def configure(self, max_retries: int, retry_delay: int, dead_letter: bool) -> None:
        self.max_attempts = max_retries + 1
        self.retry_delay = retry_delay
        self.dead_letter = dead_letter
        self.pull: PullConsumer = self.h.broker.set_pull_consumer(
            QUEUE,
            PullSettings(
                max_retries=max_retries,
                retry_delay=retry_delay,
                dead_letter_queue=DLQ if dead_letter else None,
            ),
        )

    # --- the model's transitions ----------------------------------------------------------
    def _finish(self, msg: Model, failed_at: float, delay: float | None) -> None:
        """A failed delivery (expired lease or explicit retry) of ``msg``."""
        msg.lease = None
        if msg.attempts >= self.max_attempts:
            msg.state = "dead" if self.dead_letter else "dropped"
            if self.dead_letter:
                self.dead += 1
            else:
                self.dropped += 1
        else:
            msg.state = "delayed"
            msg.due = failed_at + (self.retry_delay if delay is None else delay)

    def _expire_until(self, now: float) -> None:
        for msg in sorted(self.messages.values(), key=lambda m: m.expires):
            if msg.state == "leased" and msg.expires <= now:
                self._finish(msg, msg.expires, None)

    # --- rules ----------------------------------------------------------------------------
    @rule(count=st.integers(1, 4), delay=st.sampled_from([0, 0, 1, 2]))
    def send(self, count: int, delay: int) -> None:
        producer = self.h.broker.producer(QUEUE)
        for _ in range(count):
            body = self.next_body
            self.next_body += 1
            self.run(producer.send(body, delaySeconds=delay))
            self.messages[body] = Model(body, due=self.now + delay)

    @rule(batch_size=st.integers(1, 5), visibility=st.sampled_from([1000, 2000, 3500]))
    def pull_messages(self, batch_size: int, visibility: int) -> None:
        available = {
            m.body for m in self.messages.values() if m.state == "delayed" and m.due <= self.now
        }
        pulled: list[PulledMessage] = self.run(self.pull.pull(batch_size, visibility))
        bodies = [decode(m.content_type, m.payload) for m in pulled]
        assert len(bodies) == min(batch_size, len(available)), (bodies, available)
        assert set(bodies) <= available and len(set(bodies)) == len(bodies)
        for body, leased in zip(bodies, pulled, strict=True):
            msg = self.messages[body]
            msg.attempts += 1
            assert leased.attempts == msg.attempts
            msg.state, msg.lease, msg.expires = (
                "leased",
                leased.lease_id,
                self.now + visibility / 1000,
            )
            self.held.append(leased.lease_id)

    def _holder(self, lease_id: str) -> Model | None:
        return next((m for m in self.messages.values() if m.lease == lease_id), None)

    @rule(data=st.data())
    def ack_one(self, data: st.DataObject) -> None:
        if not self.held:
            return
        lease_id = data.draw(st.sampled_from(self.held))
        msg = self._holder(lease_id)
        result = self.pull.ack([lease_id], [])
        if msg is None:
            assert result.ack_count == 0 and lease_id in result.warnings
        else:
            assert result.ack_count == 1 and not result.warnings
            msg.state, msg.lease = "done", None
            self.acked += 1

    @rule(data=st.data(), delay=st.sampled_from([None, 0, 1, 3]))
    def retry_one(self, data: st.DataObject, delay: int | None) -> None:
        if not self.held:
            return
        lease_id = data.draw(st.sampled_from(self.held))
        msg = self._holder(lease_id)
        result = self.pull.ack([], [(lease_id, delay)])
        if msg is None:
            assert result.retry_count == 0 and lease_id in result.warnings
        else:
            assert result.retry_count == 1
            self._finish(msg, self.now, delay)

    @rule(seconds=st.sampled_from([0.5, 1, 2, 4]))
    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        self.run(self.h.advance(seconds))
        self._expire_until(target)

    # --- what must always agree -------------------------------------------------------------
    @invariant()
    def backlog_and_counters_agree(self) -> None:
        if not hasattr(self, "pull"):
            return
        live = [m for m in self.messages.values() if m.state in ("delayed", "leased")]
        assert self.pull.backlog_count() == len(live)
        assert self.pull.leased == sum(m.state == "leased" for m in live)
        stats = self.h.broker.queues[QUEUE].stats()
        assert (stats.acked, stats.dead_lettered, stats.dropped) == (
            self.acked,
            self.dead,
            self.dropped,
        )
        if self.dead_letter:
            assert len(self.h.broker.queues[DLQ]) == self.dead
        view = self.h.broker.queues[QUEUE]
        assert {m.body for m in view.in_flight()} == {m.body for m in live if m.state == "leased"}
        waiting = {m.body: m.due.timestamp() for m in view.delayed() if m.due is not None}
        expected = {m.body: m.due for m in live if m.state == "delayed" and m.due > self.now}
        assert waiting.keys() == expected.keys()
        assert all(abs(waiting[b] - expected[b]) < 1e-6 for b in expected), (waiting, expected)


PullMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("CFEMU_MODEL_EXAMPLES", "100")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
TestPullModel = PullMachine.TestCase


class PersistedPullMachine(PullMachine):
    """The same model on the SQLite store."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        h = self.h
        h.broker = Broker(h.clock, h.tracker, h.faults, store_path=Path(self.folder.name) / "q")

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self.folder.cleanup()


PersistedPullMachine.TestCase.settings = settings(
    PullMachine.TestCase.settings,
    max_examples=int(os.environ.get("CFEMU_MODEL_EXAMPLES_PERSISTED", "25")),
)
TestPersistedPullModel = PersistedPullMachine.TestCase
