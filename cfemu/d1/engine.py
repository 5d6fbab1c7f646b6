"""The SQLite engine behind one D1 database: execution, transactions, metadata, errors.

Execution design (measured; see docs/d1.md): statements run synchronously on the calling
(event-loop) thread with the standard library's ``sqlite3``, as workerd runs SQLite
in-process. A point query costs a few microseconds this way; a hop to a worker thread per
statement (how ``aiosqlite`` works) costs 60-230 µs, 30-100 times more. Only ``dump()``
of a large database, and a query still running after its slice of the loop
(:mod:`cfemu.d1._offload`, real clock only), move to a thread.

Every connection gets D1's limits and authorizer (:mod:`cfemu.d1.guard`) and foreign keys
on. A single statement runs in SQLite's implicit per-statement transaction (so a failing
statement changes nothing); multi-statement texts, ``batch()`` and ``exec()`` run in one
explicit transaction, rolled back as a whole on any failure.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple

from cfemu._faults import Faults
from cfemu._js import JsDict
from cfemu.clock import Clock, RealClock
from cfemu.d1._batch import run_batch, run_exec
from cfemu.d1._deadline import PROGRESS_STEPS, QueryDeadline
from cfemu.d1._errors import ONLY_LAST_HAS_PARAMS, translate_error
from cfemu.d1._offload import LOOP_SLICE_SECONDS, LoopShare
from cfemu.d1._text import UNDECODABLE, lenient_text, scrub
from cfemu.d1.guard import BOOLEAN_PRAGMAS, Guard, apply_limits
from cfemu.d1.plan import EMPTY_ROWS, Params, Plan, Rows, Statement, make_plan
from cfemu.d1.values import SqlValue
from cfemu.errors import D1Error
from cfemu.limits import D1_MAX_QUERY_SECONDS, D1_SERVED_BY, D1_SERVED_BY_LOCATION

__all__ = ["Engine", "Outcome"]

_MAX_PLANS: Final = 4096
#: SQLite's per-statement counters, as a virtual table (SQLite built with
#: ``SQLITE_ENABLE_STMTVTAB``); without it ``rows_read`` counts returned rows only.
SCAN_COUNTER_TABLE: Final = "sqlite_stmt"
#: ``dump()`` moves to a worker thread for databases larger than this (bytes).
DUMP_THREAD_THRESHOLD: Final = 8 * 1024 * 1024


class Outcome(NamedTuple):
    """What one query produced, before it is shaped into a D1 result."""

    description: Any
    rows: Rows
    plan: Plan
    changes: int
    duration: float
    last_row_id: int
    previous_row_id: int
    scanned: int = 0  # rows stepped through by full scans (see Engine.scan_rows)


class Engine:
    """One SQLite database with D1's behaviour. Not thread-safe: use it from one thread
    (the event loop's); only :meth:`serialize` may run on another."""

    def __init__(
        self,
        path: Path | None,
        *,
        binding: str,
        clock: Clock | None,
        faults: Faults | None,
    ) -> None:
        self.path = path
        self.binding = binding
        self.faults = faults
        self.clock: Clock = clock if clock is not None else RealClock()
        # Durations follow the virtual clock when there is one (time stands still while a
        # statement runs, so they are 0), else the high-resolution performance counter.
        self._now: Callable[[], float] = (
            clock.now if clock is not None and clock.is_virtual else time.perf_counter
        )
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(
            ":memory:" if path is None else path,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=512,
            timeout=5.0,
        )
        self.guard = Guard()
        tag = secrets.token_hex(8)
        self._begin_sql = f"BEGIN IMMEDIATE /* cfemu {tag} */"
        self._commit_sql = f"COMMIT /* cfemu {tag} */"
        self._rollback_sql = f"ROLLBACK /* cfemu {tag} */"
        self._size_sql = f"PRAGMA page_count /* cfemu {tag} */"
        self._nscan_sql = (
            f"SELECT sum(nscan) FROM {SCAN_COUNTER_TABLE} WHERE sql = ? /* cfemu {tag} */"
        )
        self._pragma_reset = tuple(
            f"PRAGMA {name} = {'ON' if name == 'foreign_keys' else 'OFF'} /* cfemu {tag} */"
            for name in sorted(BOOLEAN_PRAGMAS)
        )
        self._cur = self.conn.cursor()
        self._plans: dict[str, Plan] = {}
        #: Per SQL text: does its query plan contain a full scan? (``EXPLAIN QUERY PLAN``)
        self._scans: dict[str, bool] = {}
        #: Per statement text: SQLite's full-scan step counter after cfemu last read it.
        self._nscan_seen: dict[str, int] = {}
        #: Bumped whenever the scan decisions are forgotten: an ``EXPLAIN`` statement is not
        #: re-prepared when the schema changes, so a cached one would repeat an old plan.
        self._schema_generation = 0
        self._explain_prefix = f"/* cfemu {tag} "
        self._stat_cur = self.conn.cursor()
        self._in_txn = False
        self._closed = False
        self.version = 0
        self.dump_thread_threshold = DUMP_THREAD_THRESHOLD
        apply_limits(self.conn)
        self.conn.set_authorizer(self.guard)
        #: D1's query duration limit (real seconds; ``max_query_seconds`` to change it).
        self.deadline = QueryDeadline(D1_MAX_QUERY_SECONDS)
        self.conn.set_progress_handler(self.deadline, PROGRESS_STEPS)
        #: How a long query leaves the event loop (only on a real clock).
        self.share = LoopShare(self, None if self.clock.is_virtual else LOOP_SLICE_SECONDS)
        if path is not None:
            self.trusted("PRAGMA journal_mode = WAL")
            self.trusted("PRAGMA synchronous = NORMAL")
        self.trusted("PRAGMA foreign_keys = ON")  # SQLITE_DEFAULT_FOREIGN_KEYS=1 on D1
        self.page_size = int(self.trusted("PRAGMA page_size")[0][0])  # type: ignore[arg-type]
        self._size = self._measure_size()
        self._size_before_write = self._size
        self._last_row_id = 0
        #: Whether SQLite's full-scan counters are readable (see :meth:`scan_rows`).
        self.counts_scans = self._probe_scan_counter()

    # --- cfemu's own statements ------------------------------------------------------
    def trusted(self, sql: str, params: Sequence[SqlValue] = ()) -> Rows:
        """Run cfemu's own SQL, bypassing D1's restrictions (never user SQL)."""
        guard = self.guard
        guard.trusted = True
        try:
            return self.conn.execute(sql, params).fetchall()
        finally:
            guard.trusted = False

    def _measure_size(self) -> int:
        self.guard.trusted = True
        try:
            count = self._cur.execute(self._size_sql).fetchall()[0][0]
        finally:
            self.guard.trusted = False
        size = int(count) * self.page_size
        self._size = size
        return size

    # --- rows_read: SQLite's full-scan counter ---------------------------------------
    def _probe_scan_counter(self) -> bool:
        try:
            self.scan_steps("")
        except sqlite3.Error:
            return False
        return True

    def scans_fully(self, sql: str, plan: Plan, params: Params) -> bool:
        """Whether ``sql``'s query plan steps through a whole table or index (an
        ``EXPLAIN QUERY PLAN`` row starting with ``SCAN``). Decided once per SQL text; the
        decisions are forgotten when the schema changes."""
        scans = False
        if self.counts_scans and plan.single and not plan.ddl:
            try:
                explain = (
                    f"{self._explain_prefix}{self._schema_generation} */ "
                    f"EXPLAIN QUERY PLAN {plan.statements[0]}"
                )
                steps = self.trusted(explain, params)
            except (sqlite3.Error, UnicodeError, OverflowError):
                return False  # the statement itself fails, or may succeed later: ask again
            scans = any(
                str(row[3]).startswith("SCAN ") and row[3] != "SCAN CONSTANT ROW" for row in steps
            )
        if len(self._scans) >= _MAX_PLANS:
            self._scans.clear()
        self._scans[sql] = scans
        return scans

    def forget_scan_plans(self) -> None:
        """Forget the scan decisions (the schema changed: plans may differ now)."""
        if self._scans:
            self._scans.clear()
            self._schema_generation += 1

    def scan_steps(self, text: str) -> int:
        """SQLite's ``SQLITE_STMTSTATUS_FULLSCAN_STEP`` counter of the prepared statement(s)
        with this text, read from the ``sqlite_stmt`` virtual table."""
        guard = self.guard
        guard.trusted = True
        try:
            row = self._stat_cur.execute(self._nscan_sql, (text,)).fetchone()
        finally:
            guard.trusted = False
        return int(row[0] or 0) if row is not None else 0

    def scan_start(self, text: str) -> int:
        """The counter of ``text`` before it runs (remembered from its last run if known)."""
        seen = self._nscan_seen.get(text)
        return seen if seen is not None else self.scan_steps(text)

    def scan_rows(self, text: str, start: int) -> int:
        """Rows the full scans of ``text`` stepped through since ``start``.

        The counter counts steps *from* one row to the next, so a scan of n rows makes
        n - 1; the first row is added back. A statement re-prepared meanwhile (evicted from
        ``sqlite3``'s statement cache) starts again from 0.
        """
        now = self.scan_steps(text)
        self._nscan_seen[text] = now
        steps = now - start if now >= start else now
        return steps + 1 if steps else 0

    def size(self) -> int:
        """The database size in bytes (pages × page size)."""
        return self._measure_size()

    def begin(self) -> None:
        """Open cfemu's transaction (``BEGIN IMMEDIATE``)."""
        self.guard.trusted = True
        try:
            self.conn.execute(self._begin_sql)
        finally:
            self.guard.trusted = False
        self._in_txn = True

    def commit(self) -> None:
        """Commit cfemu's transaction; on failure (e.g. a deferred foreign key) roll back."""
        self.guard.trusted = True
        try:
            self.conn.execute(self._commit_sql)
        except BaseException:
            self.rollback()
            raise
        finally:
            self.guard.trusted = False
        self._in_txn = False

    def rollback(self) -> None:
        """Roll back cfemu's transaction, if SQLite still has one open."""
        self._in_txn = False
        if self.conn.in_transaction:
            self.guard.trusted = True
            try:
                self.conn.execute(self._rollback_sql)
            finally:
                self.guard.trusted = False

    def reset_pragmas(self) -> None:
        """Undo PRAGMA settings: on D1 a PRAGMA only lasts for the query's transaction."""
        self.guard.trusted = True
        try:
            for sql in self._pragma_reset:
                self.conn.execute(sql)
        finally:
            self.guard.trusted = False

    # --- analysis ----------------------------------------------------------------------
    def plan(self, sql: str) -> Plan:
        """The cached :class:`Plan` of ``sql``."""
        plan = self._plans.get(sql)
        if plan is None:
            if not isinstance(sql, str):
                raise TypeError(f"SQL must be a str, not {type(sql).__name__}")
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            plan = self._plans[sql] = make_plan(sql)
        return plan

    # --- execution -----------------------------------------------------------------------
    def check_faults(self) -> None:
        """The ``d1.statement`` fault-injection point (before anything runs)."""
        faults = self.faults
        if faults:
            faults.check("d1.statement", self.binding)

    def _step(self, plan: Plan, params: Params) -> tuple[Any, Rows]:
        """Run one D1 query (possibly several statements); ``(description, rows)``."""
        if plan.single:
            cur = self._cur.execute(plan.statements[0], params)
            desc = cur.description
            return desc, (cur.fetchall() if desc is not None else EMPTY_ROWS)
        self._nscan_seen.clear()  # these statements run without their counters being read
        own = not self._in_txn
        if own:
            self.begin()
        try:
            cur = self._cur
            for statement in plan.statements[:-1]:
                try:
                    cur.execute(statement)
                except sqlite3.ProgrammingError as exc:
                    if str(exc).startswith("Incorrect number of bindings"):
                        raise D1Error(ONLY_LAST_HAS_PARAMS) from None
                    raise
            cur.execute(plan.statements[-1], params)
            desc = cur.description
            rows = cur.fetchall() if desc is not None else EMPTY_ROWS
            if own:
                self.commit()
            return desc, rows
        except BaseException:
            if own:
                self.rollback()
            raise

    def run(self, sql: str, params: Params) -> Outcome:
        """Run one query. Raises :class:`~cfemu.errors.D1Error` with D1's message when it
        fails (nothing is changed then)."""
        plan = self._plans.get(sql) or self.plan(sql)
        if plan.error is not None:
            raise D1Error(plan.error)
        now = self._now
        conn = self.conn
        before = conn.total_changes
        readonly = plan.readonly
        scans = self._scans.get(sql)
        if scans is None:
            scans = self.scans_fully(sql, plan, params)
        text = plan.statements[0]
        scan_start = self.scan_start(text) if scans else 0
        if not readonly:
            # A write may return undecodable TEXT (RETURNING) only after it has changed
            # the database: decode leniently up front so it cannot fail then.
            conn.text_factory = lenient_text
        self.deadline.start()
        start = now()
        try:
            desc, rows = self._step(plan, params)
        except D1Error:
            self._nscan_seen.pop(text, None)
            raise
        except UnicodeEncodeError:
            return self.run(scrub(sql), tuple(scrub(p) for p in params))
        except sqlite3.OperationalError as exc:
            if not (readonly and str(exc).startswith(UNDECODABLE)):
                raise translate_error(exc, self.guard, self.path) from None
            # A read changed nothing: run it again, decoding as JavaScript does.
            conn.text_factory = lenient_text
            if scans:
                scan_start = self.scan_steps(text)
            try:
                desc, rows = self._step(plan, params)
            except sqlite3.Error as again:
                self._nscan_seen.pop(text, None)
                raise translate_error(again, self.guard, self.path) from None
            finally:
                conn.text_factory = str
        except sqlite3.Error as exc:
            self._nscan_seen.pop(text, None)
            raise translate_error(exc, self.guard, self.path) from None
        finally:
            self.deadline.stop()
            if not readonly:
                conn.text_factory = str
            if plan.resets_pragmas:
                self.reset_pragmas()
        duration = (now() - start) * 1000.0
        scanned = self.scan_rows(text, scan_start) if scans else 0
        if plan.ddl:
            self.forget_scan_plans()
        previous = self._last_row_id
        last_row_id = self._last_row_id = self._cur.lastrowid or 0
        if not plan.readonly:
            self.version += 1
            self._size_before_write = self._size
            self._size = -1  # stale until measured
        changes = conn.total_changes - before
        return Outcome(desc, rows, plan, changes, duration, last_row_id, previous, scanned)

    def meta(self, outcome: Outcome) -> JsDict:
        """The ``meta`` of a single query's result (measures the size after writes)."""
        plan = outcome.plan
        changes = outcome.changes
        last_row_id = outcome.last_row_id
        if plan.readonly:
            size = self._size if self._size >= 0 else self._measure_size()
            changed = False
        else:
            before = self._size_before_write
            size = self._measure_size()
            changed = (
                changes != 0
                or last_row_id != outcome.previous_row_id
                or (before >= 0 and size != before)
            )
        duration = outcome.duration
        return JsDict(
            {
                "served_by": D1_SERVED_BY,
                "served_by_region": D1_SERVED_BY_LOCATION,
                "served_by_colo": D1_SERVED_BY_LOCATION,
                "served_by_primary": True,
                "timings": JsDict(sql_duration_ms=duration),
                "duration": duration,
                "changes": changes,
                "last_row_id": last_row_id,
                "changed_db": changed,
                "size_after": size,
                "rows_read": max(
                    changes
                    if plan.reads_changed_rows
                    else len(outcome.rows)
                    if plan.reads_returned_rows
                    else 0,
                    outcome.scanned,
                ),
                "rows_written": changes,
                "total_attempts": 1,
            }
        )

    def run_batch(self, statements: Sequence[Statement]) -> list[JsDict]:
        """Run statements in order in one transaction; their D1 results, in order
        (:func:`cfemu.d1._batch.run_batch`)."""
        return run_batch(self, statements)

    def run_exec(self, sql: str) -> tuple[int, float]:
        """D1's ``exec``: one query per line, all in one transaction. ``(count, duration)``."""
        return run_exec(self, sql)

    def bookmark(self) -> str:
        """A session bookmark for the database's current state. Bookmarks grow with every
        write, compare as strings, and mean something only within this process."""
        return f"{self.version:016x}"

    def serialize(self) -> bytes:
        """The database as the bytes of an SQLite file (on this thread)."""
        self.guard.trusted = True
        try:
            return self.conn.serialize()
        finally:
            self.guard.trusted = False

    def serialize_off_thread(self) -> bytes:
        """:meth:`serialize`, for a worker thread: cfemu's trust is given to that thread
        only, so statements the event loop compiles meanwhile stay guarded."""
        guard = self.guard
        guard.trusted_thread = threading.get_ident()
        try:
            return self.conn.serialize()
        finally:
            guard.trusted_thread = None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self.share.close()
            if self.conn.in_transaction:
                self.rollback()
            self.conn.close()
