"""Cron triggers: each Worker's ``[triggers] crons`` fired on the emulator's clock."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from cfemu._log import CRONS, invocation
from cfemu._tasks import TaskTracker
from cfemu.clock import Clock, TimerHandle
from cfemu.config import WorkerConfig
from cfemu.cron import CronSchedule, parse_cron
from cfemu.runtime.worker import Worker

__all__ = ["CronTriggers"]

log = logging.getLogger("cfemu")


class CronTriggers:
    """The armed cron timers of one emulator. ``workers`` is read at each firing, so a
    Worker reloaded on save gets its next cron."""

    def __init__(self, clock: Clock, tracker: TaskTracker, workers: Mapping[str, Worker]) -> None:
        self.clock = clock
        self.tracker = tracker
        self.workers = workers
        self._timers: dict[tuple[str, str], TimerHandle] = {}

    def start(self, configs: Sequence[WorkerConfig]) -> None:
        """Arm every cron of every config."""
        for config in configs:
            worker = self.workers[config.name]
            for expression in config.triggers.crons:
                self._arm(worker, expression, parse_cron(expression))

    def _arm(self, worker: Worker, expression: str, schedule: CronSchedule) -> None:
        when = schedule.next_after(self.clock.utcnow()).timestamp()

        def fire() -> None:
            current = self.workers.get(worker.name, worker)  # reloaded on save: the new one
            self.tracker.spawn(self._run(current, expression, when))
            self._arm(current, expression, schedule)

        self._timers[(worker.name, expression)] = self.clock.call_at(when, fire)

    async def _run(self, worker: Worker, expression: str, when: float) -> None:
        started = self.clock.now()
        try:
            await worker.scheduled(expression, scheduled_time=when)
        except Exception:
            log.exception("scheduled handler of %s failed for cron %r", worker.name, expression)
            outcome = "failed"
        else:
            outcome = "ok"
        invocation(
            CRONS, "CRON", f"{expression!r} ({worker.name})", outcome, self.clock.now() - started
        )

    def cancel(self) -> None:
        """Disarm every cron."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
