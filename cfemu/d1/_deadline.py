"""D1's query duration limit, enforced through SQLite's progress handler.

spec: d1.md §6 ("Query duration: 30 s, also the whole batch"). D1 ends a query (a single
statement, a ``batch()`` or an ``exec()``) that runs longer than that, and the Worker sees
``D1_ERROR: D1 DB storage operation exceeded timeout which caused object to be reset.``
(the wording production returns, seen in Cloudflare's D1 debugging guide and production
reports; the spec has no string for it). cfemu asks SQLite to call :class:`QueryDeadline`
every :data:`PROGRESS_STEPS` virtual-machine instructions; once the query has run past
the limit, measured on the real monotonic clock (D1's limit is the query's wall time,
whatever the emulator's clock says), the handler interrupts it. SQLite then fails the
statement with ``SQLITE_INTERRUPT`` and rolls its transaction back, so the database is left
as it was before the query.
"""

from __future__ import annotations

import time
from typing import Final

__all__ = ["NEVER", "PROGRESS_STEPS", "TIMEOUT_MESSAGE", "QueryDeadline"]

#: SQLite VM instructions between two checks of the clock (a few hundred microseconds of
#: work): cheap enough to be invisible, frequent enough to stop a query within a millisecond
#: or so of its limit. A point query runs fewer instructions and is never checked at all.
PROGRESS_STEPS: Final = 20_000
#: What D1 answers for a query that ran past its duration limit (after ``D1_ERROR: ``).
TIMEOUT_MESSAGE: Final = "D1 DB storage operation exceeded timeout which caused object to be reset."

_monotonic = time.monotonic
#: ``started`` when no query runs.
NEVER: Final = float("inf")


class QueryDeadline:
    """SQLite progress handler ending the running query ``limit`` real seconds after
    :meth:`start`; ``limit`` ``None`` means no limit.

    ``loop_slice`` (set only while a query runs on the event loop, see
    :mod:`cfemu.d1._offload`) interrupts a query that has held the loop that long, so it
    can run again on the database's thread; :attr:`sliced` then says so.

    A point query starts without reading the clock (``Engine.rows()``, the hot path of
    ``first()``): instead of calling :meth:`start` it sets ``started`` to ``None`` and
    the two flags to ``False`` (when ``resume_from`` is ``None``; else it calls
    :meth:`start`). Its time then runs from the handler's first call, so only a query that
    runs long enough to be checked reads the clock, up to :data:`PROGRESS_STEPS`
    instructions late: a few hundred microseconds against a 30 s limit or a 50 ms slice.
    """

    __slots__ = (
        "expired",
        "last_started",
        "limit",
        "loop_slice",
        "resume_from",
        "sliced",
        "started",
    )

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.loop_slice: float | None = None
        #: When the running query started; ``None``: not read yet (a point query).
        self.started: float | None = NEVER
        #: When the last query started (its time keeps counting if it is run again).
        self.last_started = NEVER
        #: Set before running an interrupted query again: its time runs from then.
        self.resume_from: float | None = None
        #: Whether the last query was interrupted by this deadline.
        self.expired = False
        #: Whether the last query was interrupted to leave the event loop.
        self.sliced = False

    def start(self) -> None:
        """A query begins: its time runs from now (or from when it first started)."""
        resumed = self.resume_from
        self.started = _monotonic() if resumed is None else resumed
        self.resume_from = None
        self.expired = self.sliced = False

    def stop(self) -> None:
        """The query ended: cfemu's own statements between queries are never interrupted."""
        started = self.started
        if started is not None and started != NEVER:
            self.last_started = started
        self.started = NEVER

    def __call__(self) -> int:
        started = self.started
        if started is None:  # a point query: its time runs from this first check
            self.started = _monotonic()
            return 0
        elapsed = _monotonic() - started
        limit = self.limit
        if limit is not None and elapsed > limit:
            self.expired = True
            return 1  # non-zero: SQLite interrupts the statement
        loop_slice = self.loop_slice
        if loop_slice is not None and elapsed > loop_slice:
            self.sliced = True
            return 1
        return 0
