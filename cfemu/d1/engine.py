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
from cfemu.d1._deadline import NEVER, PROGRESS_STEPS, QueryDeadline
from cfemu.d1._errors import ONLY_LAST_HAS_PARAMS, translate_error
from cfemu.d1._offload import LOOP_SLICE_SECONDS, LoopShare
from cfemu.d1._rowcount import RowCounter
from cfemu.d1._text import UNDECODABLE, lenient_text, scrub
from cfemu.d1.counters import Tally
from cfemu.d1.guard import BOOLEAN_PRAGMAS, Guard, apply_limits
from cfemu.d1.plan import EMPTY_ROWS, Params, Plan, Rows, Statement, make_plan
from cfemu.d1.values import RowBuilder, SqlValue, column_names, row_builder
from cfemu.errors import D1Error
from cfemu.limits import D1_MAX_QUERY_SECONDS, D1_SERVED_BY, D1_SERVED_BY_LOCATION

__all__ = ["Engine", "Outcome"]

_MAX_PLANS: Final = 4096
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
    rows_read: int = 0
    rows_written: int = 0


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
        self._pragma_reset = tuple(
            f"PRAGMA {name} = {'ON' if name == 'foreign_keys' else 'OFF'} /* cfemu {tag} */"
            for name in sorted(BOOLEAN_PRAGMAS)
        )
        self._cur = self.conn.cursor()
        self._plans: dict[str, Plan] = {}
        #: Row builders by statement text, each with ``guard.compiles`` when it was made.
        self.shapes: dict[str, tuple[int, RowBuilder]] = {}
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
        #: rows_read / rows_written as D1 counts them (:mod:`cfemu.d1.counters`).
        self.counter = RowCounter(self, tag)

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
        self.counter.seen.clear()  # these statements run without their counters read
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

    def rows(self, sql: str, params: Params) -> tuple[Any, Rows]:
        """Run one query for its rows alone (``first()``, ``raw()``): ``(description,
        rows)``. A lean plan (one read-only statement) skips what only ``meta`` needs -
        duration, row counts, the :class:`Outcome`; any other query goes through
        :meth:`run`. Errors are :meth:`run`'s."""
        plan = self._plans.get(sql)
        if plan is None or not plan.lean:
            outcome = self.run(sql, params)
            return outcome.description, outcome.rows
        statement = plan.statements[0]
        seen = self.counter.seen
        if seen:
            seen.pop(statement, None)  # its full-scan counter moves unread: read it afresh
        deadline = self.deadline
        if deadline.resume_from is None:  # a point query: no clock read (QueryDeadline)
            deadline.started = None
            deadline.expired = deadline.sliced = False
        else:
            deadline.start()
        try:
            cur = self._cur.execute(statement, params)
            desc = cur.description
            rows = cur.fetchall() if desc is not None else EMPTY_ROWS
        except UnicodeEncodeError:
            return self.rows(scrub(sql), tuple(scrub(p) for p in params))
        except sqlite3.OperationalError as exc:
            if not str(exc).startswith(UNDECODABLE):
                raise translate_error(exc, self.guard, self.path) from None
            # A read changed nothing: run it again, decoding as JavaScript does.
            conn = self.conn
            conn.text_factory = lenient_text
            try:
                cur = self._cur.execute(statement, params)
                desc = cur.description
                rows = cur.fetchall() if desc is not None else EMPTY_ROWS
            except sqlite3.Error as again:
                raise translate_error(again, self.guard, self.path) from None
            finally:
                conn.text_factory = str
        except sqlite3.Error as exc:
            raise translate_error(exc, self.guard, self.path) from None
        finally:
            started = deadline.started  # deadline.stop() inline
            if started is not None and started != NEVER:
                deadline.last_started = started
            deadline.started = NEVER
        self._last_row_id = self._cur.lastrowid or 0
        return desc, rows

    def row_shape(self, sql: str, description: Any) -> RowBuilder:
        """The function making ``sql``'s rows ``JsDict`` objects (:func:`row_builder`),
        kept per statement text in :attr:`shapes`.

        ``description`` must come from a run of ``sql`` that just ended on this thread,
        with no other statement run since. A kept builder is used only while
        ``guard.compiles`` has not moved since it was made: SQLite compiles a cached
        statement again when the schema changes (a ``SELECT *`` after ``ALTER TABLE``, here
        or in another process), and every compile calls the authorizer. Callers read
        :attr:`shapes` directly on their hot path and call this on a miss.
        """
        shapes = self.shapes
        if len(shapes) >= _MAX_PLANS:
            shapes.clear()
        build = row_builder(column_names(description))
        shapes[sql] = (self.guard.compiles, build)
        return build

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
        counter = self.counter
        tally = counter.tallies.get(sql) or counter.tally(sql, plan, params)
        text = plan.statements[-1]
        scan_start = counter.scan_start(text) if tally is not None and tally.full_scans else 0
        if not readonly:
            # A write may return undecodable TEXT (RETURNING) only after it has changed
            # the database: decode leniently up front so it cannot fail then.
            conn.text_factory = lenient_text
        self.deadline.start()
        start = now()
        try:
            desc, rows = self._step(plan, params)
        except D1Error:
            counter.seen.pop(text, None)
            raise
        except UnicodeEncodeError:
            return self.run(scrub(sql), tuple(scrub(p) for p in params))
        except sqlite3.OperationalError as exc:
            if not (readonly and str(exc).startswith(UNDECODABLE)):
                raise translate_error(exc, self.guard, self.path) from None
            # A read changed nothing: run it again, decoding as JavaScript does.
            conn.text_factory = lenient_text
            if tally is not None and tally.full_scans:
                scan_start = counter.scan_start(text)
            try:
                desc, rows = self._step(plan, params)
            except sqlite3.Error as again:
                counter.seen.pop(text, None)
                raise translate_error(again, self.guard, self.path) from None
            finally:
                conn.text_factory = str
        except sqlite3.Error as exc:
            counter.seen.pop(text, None)
            raise translate_error(exc, self.guard, self.path) from None
        finally:
            self.deadline.stop()
            if not readonly:
                conn.text_factory = str
            if plan.resets_pragmas:
                self.reset_pragmas()
        duration = (now() - start) * 1000.0
        previous = self._last_row_id
        last_row_id = self._last_row_id = self._cur.lastrowid or 0
        changes = conn.total_changes - before
        if tally is None:
            tally = counter.after_run(sql, plan, params)
        counted = tally.constant
        if counted is not None:
            read, written = counted
        else:
            read, written = self.count_rows(
                tally,
                text,
                scan_start,
                len(rows),
                changes if plan.single else -1,
                last_row_id != previous,
            )
        if plan.ddl:
            counter.forget()
        if not plan.readonly:
            self.version += 1
            self._size_before_write = self._size
            self._size = -1  # stale until measured
        return Outcome(desc, rows, plan, changes, duration, last_row_id, previous, read, written)

    def count_rows(
        self,
        tally: Tally,
        text: str,
        scan_start: int,
        returned: int,
        all_changed: int,
        inserted_new_row: bool,
    ) -> tuple[int, int]:
        """``(rows_read, rows_written)`` of the statement that just ran (its last
        statement: D1 counts only that one). ``all_changed`` is every row it changed,
        triggers included, or -1 if unknown."""
        if tally.is_static:
            return tally.counts(returned, self._cur.rowcount, all_changed, inserted_new_row)
        changed = self._cur.rowcount
        if changed < 0:
            changed = 0
        counter = self.counter
        scanned = counter.scanned(text, scan_start, tally) if tally.full_scans else 0
        read = tally.rows_read(returned, changed, scanned, counter.size)
        written = tally.rows_written(changed, max(all_changed, changed), inserted_new_row)
        return read, written

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
                "rows_read": outcome.rows_read,
                "rows_written": outcome.rows_written,
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
