"""``batch()`` and ``exec()``: several D1 queries in one transaction (see :class:`Engine`).

The batch loop is the hottest path of a large batch, so it keeps its locals close and builds
each result's ``meta`` inline; a statement text repeated right after itself takes a fast
path that skips every check already answered for it (docs/d1.md, "Execution design").
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Sequence
from itertools import repeat
from operator import setitem
from typing import TYPE_CHECKING

from cfemu._js import JsDict
from cfemu.d1 import _sql
from cfemu.d1._errors import NO_STATEMENTS, translate_error
from cfemu.d1._text import lenient_text, scrub
from cfemu.d1.counters import Tally
from cfemu.d1.plan import EMPTY_ROWS, NO_PLAN, Statement
from cfemu.d1.values import row_objects
from cfemu.errors import D1Error, D1ExecError
from cfemu.limits import D1_SERVED_BY, D1_SERVED_BY_LOCATION

if TYPE_CHECKING:
    from cfemu.d1.engine import Engine

__all__ = ["run_batch", "run_exec"]


def run_batch(engine: Engine, statements: Sequence[Statement]) -> list[JsDict]:
    """Run statements in order in one transaction; their D1 results, in order.

    If one fails, the transaction is rolled back and its error raised. ``size_after``
    is measured once, after the batch, and reported on every result (measuring it
    per statement would cost more than the statement itself).
    """
    if not statements:
        raise D1Error(NO_STATEMENTS)
    plans = engine._plans
    conn = engine.conn
    cur = engine._cur
    execute = cur.execute
    fetchall = cur.fetchall
    now = engine._now
    results: list[JsDict] = []
    add_result = results.append
    jsdict = JsDict
    # Every key of a result's meta, in D1's order; the loop fills in what varies.
    fixed = {
        "served_by": D1_SERVED_BY,
        "served_by_region": D1_SERVED_BY_LOCATION,
        "served_by_colo": D1_SERVED_BY_LOCATION,
        "served_by_primary": True,
        "timings": None,
        "duration": 0.0,
        "changes": 0,
        "last_row_id": 0,
        "changed_db": False,
        "size_after": 0,
        "rows_read": 0,
        "rows_written": 0,
        "total_attempts": 1,
    }
    resets = False
    last_row_id = engine._last_row_id
    last_sql: str | None = None
    plan = NO_PLAN
    single: str | None = None
    ddl = scans = inserts = False
    counter = engine.counter
    count_rows = engine.count_rows
    tally: Tally | None = None
    text = ""
    scan_start = 0
    #: The last statement text's counts by what they depend on (see below).
    memo: dict[tuple[int, int, int, bool], tuple[int, int]] = {}
    # The fast path: the statement text the loop just ran again, when it is one statement
    # whose counts are a constant or the same per changed row (an INSERT, an UPDATE by
    # key), scans nothing and changes no schema (see ``fast`` below).
    fast_sql: str | None = None
    constant: tuple[int, int] | None = None
    first_read = per_read = per_written = 0
    # Under a virtual clock time stands still while the batch runs: every duration is 0.
    timed = not engine.clock.is_virtual
    #: The fast path's meta so far, and the values in it that vary from one run to the next.
    #: (A plain dict: copying one into a JsDict skips looking up a ``keys`` method.)
    same = dict(fixed)
    same_changes = same_own = -1
    same_changed_db = False
    duration = 0.0
    metas: list[JsDict] = []
    add_meta = metas.append
    # Every object the loop allocates stays reachable (the results), so a cyclic garbage
    # collection during it can free nothing; pausing the collector for this synchronous
    # loop saves ~8% of a large batch's time (docs/d1.md, "Execution design").
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    conn.text_factory = lenient_text  # rows are few in a batch; see ``lenient_text``
    try:
        engine.begin()  # inside: a failure (SQLITE_BUSY) must restore what is set above
        engine.deadline.start()  # the limit covers the whole batch (spec: d1.md §1)
        total = conn.total_changes
        clock = now()
        for statement in statements:
            sql = statement._sql
            if sql is fast_sql:
                # The same text again, on the fast path: the general path below with
                # every check it has already answered for this text left out.
                try:
                    desc = execute(single, statement._params).description  # type: ignore[arg-type]
                except UnicodeEncodeError:
                    pass  # the general path runs it scrubbed
                else:
                    rows = fetchall() if desc is not None else EMPTY_ROWS
                    after = conn.total_changes
                    changes = after - total
                    total = after
                    previous = last_row_id
                    last_row_id = cur.lastrowid  # type: ignore[assignment]
                    own = cur.rowcount
                    changed_db = changes != 0 or last_row_id != previous
                    # The counts depend only on (changes, own): worked out again, and the
                    # meta's varying fields written, only when one of these moved.
                    if (
                        changes != same_changes
                        or own != same_own
                        or changed_db is not same_changed_db
                    ):
                        if constant is not None:
                            read, written = constant
                        else:
                            read = first_read + per_read * (own if own > 0 or not inserts else 1)
                            written = own * per_written + (changes - own if changes > own else 0)
                        same["changes"] = same_changes = changes
                        same["changed_db"] = same_changed_db = changed_db
                        same["rows_read"] = read
                        same["rows_written"] = written
                        same_own = own
                    if timed:
                        end = now()
                        duration = (end - clock) * 1000.0
                        clock = end
                    timings = jsdict()
                    timings["sql_duration_ms"] = duration
                    # A copy of the previous statement's meta (its keys are copied whole):
                    # a repeated statement usually differs only in last_row_id.
                    meta = jsdict(same)
                    meta["timings"] = timings
                    meta["last_row_id"] = last_row_id
                    if timed:
                        meta["duration"] = duration
                    add_meta(meta)
                    result = jsdict()
                    result["success"] = True
                    result["meta"] = meta
                    result["results"] = row_objects(desc, rows) if rows else []
                    add_result(result)
                    continue
            params = statement._params
            if sql is not last_sql:
                plan = plans.get(sql) or engine.plan(sql)
                last_sql = sql
                if plan.error is not None:
                    raise D1Error(plan.error)
                resets = resets or plan.resets_pragmas
                single = plan.statements[0] if plan.single else None
                ddl = plan.ddl
                text = plan.statements[-1]
                tally = counter.tallies.get(sql) or counter.tally(sql, plan, params)
                scans = tally is not None and tally.full_scans
                inserts = tally is not None and tally.inserts
                memo.clear()
                fast_sql = None
                if tally is not None and single is not None and not scans and not ddl:
                    constant = tally.constant
                    per_change = tally.per_change
                    if constant is not None or per_change is not None:
                        fast_sql = sql
                        same_changes = -1  # a new text: its counts are worked out afresh
                        if per_change is not None:
                            first_read, per_read, per_written = per_change
            if scans:
                scan_start = counter.scan_start(text)
            try:
                if single is not None:
                    desc = execute(single, params).description
                    rows = fetchall() if desc is not None else EMPTY_ROWS
                else:
                    desc, rows = engine._step(plan, params)
            except UnicodeEncodeError:
                last_sql = fast_sql = None
                scrubbed = engine.plan(scrub(sql))
                desc, rows = engine._step(scrubbed, tuple(scrub(p) for p in params))
            after = conn.total_changes
            changes = after - total
            total = after
            previous = last_row_id
            last_row_id = cur.lastrowid  # type: ignore[assignment]  # int after execute
            if tally is None:  # its bytecode was unreadable before it ran
                tally = counter.after_run(sql, plan, params)
                inserts = tally.inserts
                last_sql = fast_sql = None
                memo.clear()
            counted = tally.constant
            per_change = tally.per_change
            if counted is not None:
                read, written = counted
            elif per_change is not None and single is not None:  # the same for every row
                own = cur.rowcount
                read = per_change[0] + per_change[1] * (own if own > 0 or not inserts else 1)
                written = own * per_change[2] + (changes - own if changes > own else 0)
            else:
                moved = last_row_id != previous
                known = changes if single is not None else -1
                if scans or tally.count_tables:  # counts that depend on more than these
                    read, written = count_rows(tally, text, scan_start, len(rows), known, moved)
                else:
                    # The same statement repeated gives the same inputs: count once.
                    key = (len(rows), cur.rowcount, known, moved)
                    counted = memo.get(key)
                    if counted is None:
                        counted = memo[key] = count_rows(
                            tally, text, scan_start, key[0], known, moved
                        )
                    read, written = counted
            if ddl:
                counter.forget()
            if timed:
                end = now()
                duration = (end - clock) * 1000.0
                clock = end
            timings = jsdict()  # cheaper than passing a dict or keyword arguments
            timings["sql_duration_ms"] = duration
            # The fixed fields first (a dict's keys are copied whole), then the rest.
            meta = jsdict()
            meta |= fixed
            meta["timings"] = timings
            meta["duration"] = duration
            meta["changes"] = changes
            meta["last_row_id"] = last_row_id
            meta["changed_db"] = ddl or changes != 0 or last_row_id != previous
            meta["rows_read"] = read
            meta["rows_written"] = written
            add_meta(meta)
            result = jsdict()  # three stores into an empty one: cheaper than a copy
            result["success"] = True
            result["meta"] = meta
            result["results"] = row_objects(desc, rows) if rows else []
            add_result(result)
        engine.commit()
    except D1Error:
        counter.seen.clear()
        engine.rollback()
        raise
    except sqlite3.Error as exc:
        counter.seen.clear()
        engine.rollback()
        raise translate_error(exc, engine.guard, engine.path) from None
    except BaseException:
        counter.seen.clear()
        engine.rollback()
        raise
    finally:
        engine.deadline.stop()
        conn.text_factory = str
        if collecting:
            gc.enable()
        if resets:
            engine.reset_pragmas()
    engine._last_row_id = last_row_id
    engine.version += 1
    size = engine._measure_size()
    # Every meta's size_after, in C (map() calling setitem; any() only drives it: setitem
    # returns None, so it runs to the end): no interpreter step per statement.
    any(map(setitem, metas, repeat("size_after"), repeat(size)))
    return results


def run_exec(engine: Engine, sql: str) -> tuple[int, float]:
    """D1's ``exec``: one query per line, all in one transaction. ``(count, duration)``."""
    if not isinstance(sql, str):
        raise TypeError(f"exec() takes a SQL string, not {type(sql).__name__}")
    lines = sql.strip().split("\n")
    runnable = [(n, line) for n, line in enumerate(lines, 1) if not _sql.is_blank(line)]
    if not runnable:
        raise D1ExecError(f"Error in line 1: {lines[0]}: {NO_STATEMENTS}")
    now = engine._now
    total = 0.0
    resets = False
    failing = runnable[0]
    engine.conn.text_factory = lenient_text
    engine.counter.seen.clear()  # exec() reports no rows_read: its counters go unread
    engine.counter.forget()  # exec() usually changes the schema
    try:
        engine.begin()
        engine.deadline.start()
        for failing in runnable:
            line = failing[1]
            plan = engine.plan(line)
            if plan.error is not None:
                raise D1Error(plan.error)
            resets = resets or plan.resets_pragmas
            start = now()
            engine._step(plan, ())
            total += (now() - start) * 1000.0
        engine.commit()
    except (D1Error, sqlite3.Error) as exc:
        engine.rollback()
        cause = exc if isinstance(exc, D1Error) else translate_error(exc, engine.guard, engine.path)
        # spec: d1.md §2.2 - D1 reports the first line whatever line failed.
        err = D1ExecError(f"Error in line 1: {lines[0]}: {cause.cause_message}")
        err.add_note(f"cfemu: the statement that failed is on line {failing[0]}: {failing[1]}")
        for note in getattr(cause, "__notes__", ()):
            err.add_note(note)
        raise err from None
    except BaseException:
        engine.rollback()
        raise
    finally:
        engine.deadline.stop()
        engine.conn.text_factory = str
        if resets:
            engine.reset_pragmas()
    engine.version += 1
    return len(runnable), total
