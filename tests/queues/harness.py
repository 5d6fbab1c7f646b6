"""A small test harness: a Broker on a VirtualClock, and drain()/advance() that never sleep.

``drain`` mirrors what the integrator's ``Emulator.drain()`` does ("run tasks until idle; fire
the next timer; repeat"), extended so that handlers blocked in ``clock.sleep`` (virtual work
time) count as idle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cfemu._faults import Faults
from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.errors import DrainError
from cfemu.queues import Broker, ConsumerSettings, MessageBatch

MAX_STEPS = 10_000
MAX_SPINS = 100_000


class Harness:
    """Broker + virtual clock + tracker, with instant ``drain`` and ``advance``."""

    def __init__(self, *, faults: Faults | None = None, logger: logging.Logger | None = None):
        self.clock = VirtualClock()
        self.tracker = TaskTracker()
        self.faults = faults if faults is not None else Faults()
        self.broker = Broker(self.clock, self.tracker, self.faults, logger)

    async def run_tasks(self) -> None:
        """Let every tracked task run until it finishes or blocks in ``clock.sleep``."""
        for _ in range(MAX_SPINS):
            await asyncio.sleep(0)
            if len(self.tracker) <= self.clock.sleepers:
                return
        raise DrainError("tasks kept running without settling")

    async def drain(self, max_steps: int = MAX_STEPS) -> None:
        """Deliver until nothing is ready, delayed or in flight, jumping virtual time."""
        for _ in range(max_steps):
            await self.run_tasks()
            if not self.clock.fire_next():
                break
        else:
            raise DrainError(f"queues did not settle within {max_steps} timer steps")
        assert self.broker.is_settled(), "drain ended with deliverable messages"

    async def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds``, running the work each timer starts."""
        target = self.clock.now() + seconds
        while True:
            await self.run_tasks()
            deadline = self.clock.next_deadline()
            if deadline is None or deadline > target:
                break
            self.clock.advance_to(deadline)
        self.clock.advance_to(target)
        await self.run_tasks()

    def consume(
        self,
        queue: str,
        handler: Callable[[MessageBatch], Awaitable[None]],
        **settings: object,
    ) -> None:
        """Attach ``handler`` with ``ConsumerSettings(**settings)``."""
        self.broker.set_consumer(queue, ConsumerSettings(**settings), handler)  # type: ignore[arg-type]


class Recorder:
    """A consumer that records each batch (body, attempts) and runs an optional action."""

    def __init__(
        self,
        harness: Harness,
        action: Callable[[MessageBatch], Awaitable[None] | None] | None = None,
    ) -> None:
        self.harness = harness
        self.action = action
        self.batches: list[list[tuple[object, int]]] = []
        self.times: list[float] = []
        self.queues: list[str] = []

    async def __call__(self, batch: MessageBatch) -> None:
        self.batches.append([(m.body, m.attempts) for m in batch.messages])
        self.times.append(self.harness.clock.now())
        self.queues.append(batch.queue)
        if self.action is not None:
            result = self.action(batch)
            if result is not None:
                await result

    @property
    def bodies(self) -> list[object]:
        return [body for batch in self.batches for body, _ in batch]
