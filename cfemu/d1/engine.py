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

import functools
import gc
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NamedTuple, Protocol

from cfemu._faults import Faults
from cfemu._js import JsDict
from cfemu.clock import Clock, RealClock
from cfemu.d1 import _sql
from cfemu.d1._deadline import PROGRESS_STEPS, TIMEOUT_MESSAGE, QueryDeadline
from cfemu.d1._offload import LOOP_SLICE_SECONDS, LoopShare
from cfemu.d1.guard import BOOLEAN_PRAGMAS, TRANSACTION_MESSAGE, Guard, apply_limits
from cfemu.d1.values import SqlValue, row_objects
from cfemu.errors import D1Error, D1ExecError
from cfemu.limits import (
    D1_MAX_QUERY_SECONDS,
    D1_MAX_SQL_BYTES,
    D1_SERVED_BY,
    D1_SERVED_BY_LOCATION,
)
from cfemu.state import WAY_OUT

__all__ = ["Engine", "Outcome", "Plan", "make_plan", "translate_error"]

Params = tuple[SqlValue, ...]
Rows = list[tuple[SqlValue, ...]]

_PRIMARY_CODES: Final = {
    1: "SQLITE_ERROR",
    2: "SQLITE_INTERNAL",
    3: "SQLITE_PERM",
    4: "SQLITE_ABORT",
    5: "SQLITE_BUSY",
    6: "SQLITE_LOCKED",
    7: "SQLITE_NOMEM",
    8: "SQLITE_READONLY",
    9: "SQLITE_INTERRUPT",
    10: "SQLITE_IOERR",
    11: "SQLITE_CORRUPT",
    12: "SQLITE_NOTFOUND",
    13: "SQLITE_FULL",
    14: "SQLITE_CANTOPEN",
    15: "SQLITE_PROTOCOL",
    16: "SQLITE_EMPTY",
    17: "SQLITE_SCHEMA",
    18: "SQLITE_TOOBIG",
    19: "SQLITE_CONSTRAINT",
    20: "SQLITE_MISMATCH",
    21: "SQLITE_MISUSE",
    22: "SQLITE_NOLFS",
    23: "SQLITE_AUTH",
    24: "SQLITE_FORMAT",
    25: "SQLITE_RANGE",
    26: "SQLITE_NOTADB",
}
NO_STATEMENTS: Final = "No SQL statements detected."
WRONG_BINDINGS: Final = "Wrong number of parameter bindings for SQL query."
ONLY_LAST_HAS_PARAMS: Final = (
    "When executing multiple SQL statements in a single call, only the last statement can "
    "have parameters."
)
TOO_LONG: Final = "statement too long: SQLITE_TOOBIG"
_VACUUM: Final = "cannot VACUUM from within a transaction: SQLITE_ERROR"
#: The start of ``sqlite3``'s error for TEXT that is not valid UTF-8.
_UNDECODABLE: Final = "Could not decode to UTF-8"
#: Decodes TEXT as JavaScript does (workerd hands SQLite's bytes to V8): invalid UTF-8
#: becomes U+FFFD instead of failing. A C call, but ~0.2 µs per value more than ``str``, so
#: read-only queries use ``str`` and fall back to this only when a value needs it.
lenient_text: Final = functools.partial(str, encoding="utf-8", errors="replace")
#: Statements that change the schema: they count as changing the database in a batch.
_DDL_VERBS: Final = frozenset({"CREATE", "DROP", "ALTER", "REINDEX", "ANALYZE", "PRAGMA"})
_READS_CHANGED_ROWS: Final = frozenset({"UPDATE", "DELETE"})
_READS_NOTHING_SEEN: Final = frozenset({"INSERT", "REPLACE"})
_EMPTY_ROWS: Final[Rows] = []
_MAX_PLANS: Final = 4096
#: SQLite's per-statement counters, as a virtual table (SQLite built with
#: ``SQLITE_ENABLE_STMTVTAB``); without it ``rows_read`` counts returned rows only.
SCAN_COUNTER_TABLE: Final = "sqlite_stmt"
#: ``dump()`` moves to a worker thread for databases larger than this (bytes).
DUMP_THREAD_THRESHOLD: Final = 8 * 1024 * 1024


class Statement(Protocol):
    """What :meth:`Engine.run_batch` needs of a statement: its SQL and converted values."""

    @property
    def _sql(self) -> str: ...

    @property
    def _params(self) -> Params: ...


@dataclass(frozen=True, slots=True)
class Plan:
    """What cfemu knows about one SQL text, computed once per distinct text."""

    statements: tuple[str, ...]
    verb: str  # the last statement's verb
    single: bool
    readonly: bool
    reads_changed_rows: bool
    reads_returned_rows: bool
    resets_pragmas: bool
    ddl: bool
    error: str | None


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


def make_plan(sql: str) -> Plan:
    """Analyse ``sql`` (see :mod:`cfemu.d1._sql`)."""
    statements = tuple(_sql.split_statements(sql))
    verbs = [_sql.leading_verb(s) for s in statements]
    error: str | None = None
    if len(sql) * 4 > D1_MAX_SQL_BYTES and len(sql.encode("utf-8", "surrogatepass")) > (
        D1_MAX_SQL_BYTES
    ):
        error = TOO_LONG
    elif not statements:
        error = NO_STATEMENTS
    elif "VACUUM" in verbs:
        error = _VACUUM  # every D1 query runs inside a transaction
    resets = False
    for statement, verb in zip(statements, verbs, strict=True):
        if verb == "PRAGMA":
            name, has_value = _sql.pragma_name_and_value(statement)
            resets = resets or (has_value and name in BOOLEAN_PRAGMAS)
    last = verbs[-1] if verbs else ""
    return Plan(
        statements=statements,
        verb=last,
        single=len(statements) == 1,
        readonly=bool(verbs) and all(v in _sql.READ_VERBS for v in verbs),
        reads_changed_rows=last in _READS_CHANGED_ROWS,
        reads_returned_rows=last not in _READS_CHANGED_ROWS and last not in _READS_NOTHING_SEEN,
        resets_pragmas=resets,
        ddl=any(v in _DDL_VERBS for v in verbs),
        error=error,
    )


_NO_PLAN: Final = make_plan("")


def translate_error(
    exc: Exception, guard: Guard | None = None, path: Path | None = None
) -> D1Error:
    """A ``sqlite3`` error as D1 reports it locally: ``<message>: SQLITE_<CODE>``.

    A damaged database file (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``) cannot happen on D1;
    locally the message names the file at ``path`` and what to do.
    """
    message = str(exc)
    code: int | None = getattr(exc, "sqlite_errorcode", None)
    denial = None
    if guard is not None and guard.denial is not None:
        denial, guard.denial = guard.denial, None
    if code is not None:
        primary = _PRIMARY_CODES.get(code & 0xFF) or getattr(exc, "sqlite_errorname", "")
        if denial is not None and denial.transaction and primary == "SQLITE_AUTH":
            err = D1Error(TRANSACTION_MESSAGE)
        elif primary == "SQLITE_INTERRUPT":  # only the query deadline interrupts
            err = D1Error(TIMEOUT_MESSAGE)
        elif primary in ("SQLITE_CORRUPT", "SQLITE_NOTADB") and path is not None:
            err = D1Error(
                f"{message}: {primary} (cfemu: the database file {path} is damaged. {WAY_OUT})"
            )
        else:
            err = D1Error(f"{message}: {primary}")
        if denial is not None:
            err.add_note(f"cfemu: {denial.reason} (spec: d1.md §7)")
        return err
    if isinstance(exc, sqlite3.ProgrammingError):
        if message.startswith("Incorrect number of bindings"):
            return D1Error(WRONG_BINDINGS)
        if message.startswith("Error binding parameter"):
            return D1Error("string or blob too big: SQLITE_TOOBIG")
    if isinstance(exc, sqlite3.DataError) and message == "query string is too large":
        return D1Error(TOO_LONG)
    return D1Error(message)


def _scrub(value: Any) -> Any:
    """Lone surrogates become U+FFFD, as JavaScript's UTF-8 encoding does."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


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
            return desc, (cur.fetchall() if desc is not None else _EMPTY_ROWS)
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
            rows = cur.fetchall() if desc is not None else _EMPTY_ROWS
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
            return self.run(_scrub(sql), tuple(_scrub(p) for p in params))
        except sqlite3.OperationalError as exc:
            if not (readonly and str(exc).startswith(_UNDECODABLE)):
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
        """Run statements in order in one transaction; their D1 results, in order.

        If one fails, the transaction is rolled back and its error raised. ``size_after``
        is measured once, after the batch, and reported on every result (measuring it
        per statement would cost more than the statement itself).
        """
        if not statements:
            raise D1Error(NO_STATEMENTS)
        plans = self._plans
        conn = self.conn
        cur = self._cur
        execute = cur.execute
        fetchall = cur.fetchall
        now = self._now
        results: list[JsDict] = []
        add_result = results.append
        jsdict = JsDict
        served_by = D1_SERVED_BY
        location = D1_SERVED_BY_LOCATION
        resets = False
        last_row_id = self._last_row_id
        last_sql: str | None = None
        plan = _NO_PLAN
        single: str | None = None
        ddl = reads_changed_rows = reads_returned_rows = scans = False
        scan_plans = self._scans
        scan_text = ""
        scanned = scan_start = 0
        # Every object the loop allocates stays reachable (the results), so a cyclic garbage
        # collection during it can free nothing; pausing the collector for this synchronous
        # loop saves ~8% of a large batch's time (docs/d1.md, "Execution design").
        collecting = gc.isenabled()
        if collecting:
            gc.disable()
        conn.text_factory = lenient_text  # rows are few in a batch; see ``lenient_text``
        try:
            self.begin()  # inside: a failure (SQLITE_BUSY) must restore what is set above
            self.deadline.start()  # the limit covers the whole batch (spec: d1.md §1)
            total = conn.total_changes
            clock = now()
            for statement in statements:
                sql = statement._sql
                params = statement._params
                if sql is not last_sql:
                    plan = plans.get(sql) or self.plan(sql)
                    last_sql = sql
                    if plan.error is not None:
                        raise D1Error(plan.error)
                    resets = resets or plan.resets_pragmas
                    single = plan.statements[0] if plan.single else None
                    ddl = plan.ddl
                    reads_changed_rows = plan.reads_changed_rows
                    reads_returned_rows = plan.reads_returned_rows
                    found = scan_plans.get(sql)
                    scans = found if found is not None else self.scans_fully(sql, plan, params)
                if scans:
                    scan_text = plan.statements[0]
                    scan_start = self.scan_start(scan_text)
                try:
                    if single is not None:
                        desc = execute(single, params).description
                        rows = fetchall() if desc is not None else _EMPTY_ROWS
                    else:
                        desc, rows = self._step(plan, params)
                except UnicodeEncodeError:
                    last_sql = None
                    scrubbed = self.plan(_scrub(sql))
                    desc, rows = self._step(scrubbed, tuple(_scrub(p) for p in params))
                if scans:
                    scanned = self.scan_rows(scan_text, scan_start)
                if ddl:
                    self.forget_scan_plans()
                after = conn.total_changes
                changes = after - total
                total = after
                previous = last_row_id
                last_row_id = cur.lastrowid  # type: ignore[assignment]  # int after execute
                end = now()
                read = changes if reads_changed_rows else len(rows) if reads_returned_rows else 0
                duration = (end - clock) * 1000.0
                timings = jsdict()  # cheaper than passing a dict or keyword arguments
                timings["sql_duration_ms"] = duration
                # An empty dict subclass updated in place from a literal: the cheapest way
                # to fill 13 keys (keyword arguments cost twice as much).
                meta = jsdict()
                meta |= {
                    "served_by": served_by,
                    "served_by_region": location,
                    "served_by_colo": location,
                    "served_by_primary": True,
                    "timings": timings,
                    "duration": duration,
                    "changes": changes,
                    "last_row_id": last_row_id,
                    "changed_db": ddl or changes != 0 or last_row_id != previous,
                    "size_after": 0,
                    "rows_read": read if not scans or read >= scanned else scanned,
                    "rows_written": changes,
                    "total_attempts": 1,
                }
                clock = end
                add_result(
                    jsdict(
                        {
                            "success": True,
                            "meta": meta,
                            "results": row_objects(desc, rows) if rows else [],
                        }
                    )
                )
            self.commit()
        except D1Error:
            self._nscan_seen.clear()
            self.rollback()
            raise
        except sqlite3.Error as exc:
            self._nscan_seen.clear()
            self.rollback()
            raise translate_error(exc, self.guard, self.path) from None
        except BaseException:
            self._nscan_seen.clear()
            self.rollback()
            raise
        finally:
            self.deadline.stop()
            conn.text_factory = str
            if collecting:
                gc.enable()
            if resets:
                self.reset_pragmas()
        self._last_row_id = last_row_id
        self.version += 1
        size = self._measure_size()
        for result in results:
            result["meta"]["size_after"] = size
        return results

    def run_exec(self, sql: str) -> tuple[int, float]:
        """D1's ``exec``: one query per line, all in one transaction. ``(count, duration)``."""
        if not isinstance(sql, str):
            raise TypeError(f"exec() takes a SQL string, not {type(sql).__name__}")
        lines = sql.strip().split("\n")
        runnable = [(n, line) for n, line in enumerate(lines, 1) if not _sql.is_blank(line)]
        if not runnable:
            raise D1ExecError(f"Error in line 1: {lines[0]}: {NO_STATEMENTS}")
        now = self._now
        total = 0.0
        resets = False
        failing = runnable[0]
        self.conn.text_factory = lenient_text
        self._nscan_seen.clear()  # exec() reports no rows_read: its counters go unread
        self.forget_scan_plans()  # exec() usually changes the schema
        try:
            self.begin()
            self.deadline.start()
            for failing in runnable:
                line = failing[1]
                plan = self.plan(line)
                if plan.error is not None:
                    raise D1Error(plan.error)
                resets = resets or plan.resets_pragmas
                start = now()
                self._step(plan, ())
                total += (now() - start) * 1000.0
            self.commit()
        except (D1Error, sqlite3.Error) as exc:
            self.rollback()
            cause = exc if isinstance(exc, D1Error) else translate_error(exc, self.guard, self.path)
            # spec: d1.md §2.2 - D1 reports the first line whatever line failed.
            err = D1ExecError(f"Error in line 1: {lines[0]}: {cause.cause_message}")
            err.add_note(f"cfemu: the statement that failed is on line {failing[0]}: {failing[1]}")
            for note in getattr(cause, "__notes__", ()):
                err.add_note(note)
            raise err from None
        except BaseException:
            self.rollback()
            raise
        finally:
            self.deadline.stop()
            self.conn.text_factory = str
            if resets:
                self.reset_pragmas()
        self.version += 1
        return len(runnable), total

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
