"""Rates of each queue's counters over the last minutes, for the explorer's live chart.

The broker keeps counters since start (sent, acked, ...), not their history. The explorer
samples every queue's counters when it is asked (the page asks each second while it is
open; nothing runs in the background, so a test's ``drain()`` is never kept busy; ``cfemu
dev`` also samples each second on its real clock with :func:`sample_forever`, so the chart
has the minutes before the page was opened) into a
ring of at most :data:`WINDOW_SECONDS` of samples, one per :data:`RESOLUTION_SECONDS` at
most. A rate is the difference of two consecutive samples over the clock time between
them: while nobody looks, the next point is the average over the gap.

``GET /queues/{queue}/rates`` answers ``{queue_name, window_seconds, points: [{t_ms,
backlog, sent, moved_in, acked, retried, dead_lettered, dropped}]}``: ``backlog`` is the gauge at
``t_ms``, the others are messages per second since the previous point.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from cfemu.queues.views import QueueView

if TYPE_CHECKING:
    from cfemu.queues.service import QueueService

__all__ = [
    "COUNTERS",
    "RESOLUTION_SECONDS",
    "WINDOW_SECONDS",
    "RateHistory",
    "rate_history",
    "sample_forever",
]

#: The counters charted, as :class:`~cfemu.queues.views.QueueStats` names them.
COUNTERS: Final = ("sent", "moved_in", "acked", "retried", "dead_lettered", "dropped")
#: How far back the history goes.
WINDOW_SECONDS: Final = 600.0
#: The shortest time between two samples (closer requests share a sample).
RESOLUTION_SECONDS: Final = 1.0

_Sample = tuple[float, dict[str, tuple[int, ...]]]  # (clock seconds, queue -> gauge+counters)


class RateHistory:
    """Samples of every queue's backlog and counters, the last :data:`WINDOW_SECONDS`."""

    def __init__(
        self, window: float = WINDOW_SECONDS, resolution: float = RESOLUTION_SECONDS
    ) -> None:
        self.window = window
        self.resolution = resolution
        self._samples: deque[_Sample] = deque()

    def sample(self, now: float, queues: Mapping[str, QueueView]) -> None:
        """Record the queues' counters at ``now`` (unless the last sample is too recent)."""
        samples = self._samples
        if samples and now - samples[-1][0] < self.resolution:
            return
        values: dict[str, tuple[int, ...]] = {}
        for name, view in queues.items():
            stats = view.stats()
            values[name] = (stats.backlog, *(getattr(stats, key) for key in COUNTERS))
        samples.append((now, values))
        while samples and now - samples[0][0] > self.window:
            samples.popleft()

    def points(self, queue: str) -> list[dict[str, Any]]:
        """The chart of ``queue``: per sample its time, backlog and per-second rates since
        the sample before (the first sample, which has none before it, is left out)."""
        out: list[dict[str, Any]] = []
        before: tuple[float, tuple[int, ...]] | None = None
        for when, values in self._samples:
            mine = values.get(queue)
            if mine is None:
                before = None
                continue
            if before is not None and when > before[0]:
                elapsed = when - before[0]
                point: dict[str, Any] = {"t_ms": int(when * 1000), "backlog": mine[0]}
                for i, key in enumerate(COUNTERS, start=1):
                    point[key] = round(max(0, mine[i] - before[1][i]) / elapsed, 3)
                out.append(point)
            before = (when, mine)
        return out


def rate_history(service: QueueService) -> RateHistory:
    """The emulator's one :class:`RateHistory` (shared by every explorer app built for it and
    by :func:`sample_forever`)."""
    history = service.ctx.options.setdefault("explorer.queue_rates", RateHistory())
    assert isinstance(history, RateHistory)
    return history


async def sample_forever(service: QueueService, every: float = RESOLUTION_SECONDS) -> None:
    """Sample the queues every ``every`` seconds of the service's clock until cancelled
    (``cfemu dev`` runs it on the real clock; never on a virtual one, whose ``drain()`` it
    would keep busy)."""
    history = rate_history(service)
    clock = service.ctx.clock
    while True:
        admin = service.admin
        if admin is not None:
            history.sample(clock.now(), admin.broker.queues)
        await clock.sleep(every)
