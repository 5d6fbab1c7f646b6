"""The engine's side of ``rows_read``/``rows_written``: the :class:`~cfemu.d1.counters.Tally`
of each SQL text (from ``EXPLAIN``), SQLite's full-scan counter, and table sizes."""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Final

from cfemu.d1.counters import STATIC_ZERO, Tally, analyse
from cfemu.d1.plan import Params, Plan

if TYPE_CHECKING:
    from cfemu.d1.engine import Engine

__all__ = ["SCAN_COUNTER_TABLE", "RowCounter"]

#: SQLite's per-statement counters, as a virtual table (SQLite built with
#: ``SQLITE_ENABLE_STMTVTAB``, as Python's usual builds are).
SCAN_COUNTER_TABLE: Final = "sqlite_stmt"
_MAX_TALLIES: Final = 4096
_UPSERT: Final = re.compile(r"\bDO\s+UPDATE\b", re.IGNORECASE)
#: When the bytecode cannot be read (the statement fails to compile before an earlier
#: statement of the same query has run): one row read per row returned or changed.
_FALLBACK: Final = Tally(per_returned=1, per_changed=1)


class RowCounter:
    """Counts one engine's rows read and written (see :mod:`cfemu.d1.counters`)."""

    def __init__(self, engine: Engine, tag: str) -> None:
        self.engine = engine
        #: Per SQL text: its tally (read directly on the hot path).
        self.tallies: dict[str, Tally] = {}
        #: Per statement text: SQLite's full-scan step counter after cfemu last read it.
        self.seen: dict[str, int] = {}
        #: Root page -> table name, for ``count(*)`` and nested scans.
        self._tables: dict[int, str] | None = None
        #: Bumped when the schema changes: an ``EXPLAIN`` statement in ``sqlite3``'s cache
        #: is not re-prepared by a schema change, so a cached one would repeat an old plan.
        self._generation = 0
        self._prefix = f"/* cfemu {tag} "
        self._nscan_sql = (
            f"SELECT sum(nscan) FROM {SCAN_COUNTER_TABLE} WHERE sql = ? /* cfemu {tag} */"
        )
        self._stat_cur = engine.conn.cursor()
        #: Whether SQLite's full-scan counter is readable; without it a full scan counts
        #: as many rows as its table holds.
        self.counts_scans = self._probe()

    def _probe(self) -> bool:
        try:
            self.scan_steps("")
        except sqlite3.Error:
            return False
        return True

    def tally(self, sql: str, plan: Plan, params: Params) -> Tally | None:
        """The cached :class:`Tally` of ``sql`` (its last statement), or ``None`` when its
        bytecode cannot be read yet (ask again after the run)."""
        found = self.tallies.get(sql)
        if found is not None:
            return found
        if plan.error is not None or plan.verb in ("", "EXPLAIN"):
            tally = STATIC_ZERO
        else:
            statement = plan.statements[-1]
            try:
                ops = self.engine.trusted(
                    f"{self._prefix}{self._generation} */ EXPLAIN {statement}",
                    params,
                )
            except (sqlite3.Error, UnicodeError, OverflowError, ValueError):
                return None
            try:
                tally = analyse(
                    (row[:7] for row in ops),  # type: ignore[misc]
                    plan.verb,
                    self._table_names(),
                    upsert=bool(_UPSERT.search(statement)),
                )
            except Exception:  # bytecode cfemu does not know must never fail a query
                tally = _FALLBACK
        if len(self.tallies) >= _MAX_TALLIES:
            self.tallies.clear()
        self.tallies[sql] = tally
        return tally

    def after_run(self, sql: str, plan: Plan, params: Params) -> Tally:
        """The tally of a statement whose bytecode was unreadable before it ran."""
        found = self.tally(sql, plan, params)
        return found if found is not None else _FALLBACK

    def _table_names(self) -> dict[int, str]:
        if self._tables is None:
            rows = self.engine.trusted(
                f"{self._prefix}{self._generation} */ "
                "SELECT rootpage, tbl_name FROM main.sqlite_schema WHERE rootpage > 0"
            )
            self._tables = {int(root): str(name) for root, name in rows}  # type: ignore[arg-type]
        return self._tables

    def forget(self) -> None:
        """The schema changed: plans, and so tallies, may differ now."""
        if self.tallies or self._tables is not None:
            self.tallies.clear()
            self._tables = None
            self._generation += 1

    def size(self, table: str) -> int:
        """How many rows ``table`` holds (0 if it is gone)."""
        if not table:
            return 0
        quoted = '"' + table.replace('"', '""') + '"'
        try:
            rows = self.engine.trusted(f"SELECT count(*) FROM main.{quoted}")
        except sqlite3.Error:
            return 0
        return int(rows[0][0])  # type: ignore[arg-type]

    # --- SQLite's full-scan step counter ---------------------------------------------
    def scan_steps(self, text: str) -> int:
        """``SQLITE_STMTSTATUS_FULLSCAN_STEP`` of the prepared statement(s) with this text,
        read from the ``sqlite_stmt`` virtual table."""
        guard = self.engine.guard
        guard.trusted = True
        try:
            row = self._stat_cur.execute(self._nscan_sql, (text,)).fetchone()
        finally:
            guard.trusted = False
        return int(row[0] or 0) if row is not None else 0

    def scan_start(self, text: str) -> int:
        """The counter of ``text`` before it runs (remembered from its last run if known)."""
        if not self.counts_scans:
            return 0
        seen = self.seen.get(text)
        return seen if seen is not None else self.scan_steps(text)

    def scanned(self, text: str, start: int, tally: Tally) -> int:
        """Full-scan steps (successful ``Next`` on a full scan) since ``start``. A statement
        re-prepared meanwhile (evicted from ``sqlite3``'s cache) starts again from 0.
        Without the counter: each scanned table's size less the first row."""
        if not self.counts_scans:
            return sum(max(self.size(t) - 1, 0) for t in tally.scan_tables)
        now = self.scan_steps(text)
        self.seen[text] = now
        return now - start if now >= start else now
