"""``meta.rows_read`` and ``meta.rows_written`` as D1 counts them, on stock SQLite.

D1 (and workerd's local D1) reads two counters that a patch adds to SQLite's bytecode
engine: per statement, *rows read* grows by one each time a cursor is positioned on a row
(``Rewind``/``Last``/``Sort``, each successful ``Next``/``Prev``, each ``Seek*``,
``SeekRowid``/``NotExists``, each ``VNext``, and by the row count for ``OP_Count``), and
*rows written* by one per row inserted into, or (counted) deleted from, a table or an
index that is not a temporary one. An equality seek on an index that finds nothing reads
nothing. Only the last statement of a multi-statement query is counted.

Python's ``sqlite3`` exposes none of that, so cfemu reconstructs the counts: it reads the
statement's bytecode once (``EXPLAIN``, cached per SQL text until the schema changes) into
a :class:`Tally`, a small formula over what the run shows: the rows returned (``R``), the
rows changed (``C``, ``sqlite3_changes``), the rows changed by triggers, SQLite's full-scan
step counter (``S``, the ``sqlite_stmt`` table) and, for ``count(*)`` and nested scans,
table sizes. Point lookups, full scans, ``count(*)``, index ranges, joins, ``RETURNING``,
``ORDER BY``, DML and DDL match D1 exactly in the cases docs/d1.md lists; the rest are
estimates documented there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["STATIC_ZERO", "Tally", "analyse"]

_STARTS: Final = frozenset({"Rewind", "Last", "Sort", "SorterSort"})
_NEXTS: Final = frozenset({"Next", "Prev", "SorterNext", "VNext"})
_SEEKS: Final = frozenset({"SeekGE", "SeekGT", "SeekLE", "SeekLT"})
_ROWID_SEEKS: Final = frozenset({"SeekRowid", "NotExists"})
_END_CHECKS: Final = frozenset({"IdxGT", "IdxGE", "IdxLT", "IdxLE", "Gt", "Ge", "Lt", "Le"})
_TEMPORARY: Final = frozenset(
    {"OpenEphemeral", "OpenAutoindex", "SorterOpen", "OpenPseudo", "OpenDup"}
)
_INSERTS: Final = frozenset({"Insert", "IdxInsert", "SorterInsert"})
_OPFLAG_NCHANGE: Final = 0x01
_OPFLAG_SEEKEQ: Final = 0x02
_DML: Final = frozenset({"INSERT", "REPLACE", "UPDATE", "DELETE"})

#: One row of ``EXPLAIN``: addr, opcode, p1, p2, p3, p4, p5 (the comment is not needed).
Op = tuple[int, str, int, int, int, object, int]


@dataclass(frozen=True, slots=True)
class Tally:
    """How to count one statement's rows read and written from what its run shows.

    ``rows_read = fixed + per_returned*R + per_changed*C (+ when_returned if R > 0)
    (+ when_changed if C > 0) + S (if full_scans) + the sizes of count_tables``; ``S`` is
    SQLite's full-scan step counter. ``rows_written`` is ``fixed_writes`` for statements
    that are not DML; for DML every changed row writes itself and an entry in each index
    the statement writes (``index_writes``; an upsert that updates writes
    ``update_index_writes``), and every row a trigger changes writes one.
    """

    fixed: int = 0
    per_returned: int = 0
    per_changed: int = 0
    when_returned: int = 0
    when_changed: int = 0
    full_scans: bool = False
    #: How many times ``S`` is counted: twice when a full scan feeds a sort with a limit.
    scan_times: int = 1
    count_tables: tuple[str, ...] = ()
    scan_tables: tuple[str, ...] = ()
    dml: bool = False
    inserts: bool = False
    fixed_writes: int = 0
    index_writes: int = 0
    update_index_writes: int | None = None
    #: ``(rows_read, rows_written)`` when they depend on nothing the run shows (a point
    #: lookup, a DDL statement): the hot path reads them without any arithmetic.
    constant: tuple[int, int] | None = None
    #: ``(rows_read, rows_read per changed row, rows_written per changed row)`` for DML
    #: that reads and writes the same for every row it changes (an INSERT, an UPDATE by
    #: key): the batch loop's fast path. An INSERT counts at least one row looked up.
    per_change: tuple[int, int, int] | None = None

    @property
    def is_static(self) -> bool:
        """Whether the counts need nothing from the run but ``R`` and ``C``."""
        return not self.full_scans and not self.count_tables

    def counts(
        self, returned: int, changed: int, all_changed: int, inserted_new_row: bool
    ) -> tuple[int, int]:
        """``(rows_read, rows_written)`` of an :attr:`is_static` tally in one call (the
        batch loop's fast path; ``changed`` may be -1 for "not DML")."""
        if changed < 0:
            changed = 0
        looked_up = max(changed, 1) if self.inserts else changed
        read = self.fixed + self.per_returned * returned + self.per_changed * looked_up
        if returned:
            read += self.when_returned
        if changed:
            read += self.when_changed
        if not self.dml:
            return (read if read > 0 else 0), self.fixed_writes
        per_row = self.index_writes
        if self.update_index_writes is not None and not inserted_new_row:
            per_row = self.update_index_writes
        written = changed * (1 + per_row) + (self.fixed_writes if changed else 0)
        if all_changed > changed:
            written += all_changed - changed
        return (read if read > 0 else 0), written

    def rows_read(
        self, returned: int, changed: int, scanned: int, size: Callable[[str], int]
    ) -> int:
        """Rows read, given ``R``, ``C``, ``S`` and a way to size a table."""
        if self.inserts:
            changed = max(changed, 1)  # every VALUES row is looked up, even one ignored
        total = self.fixed + self.per_returned * returned + self.per_changed * changed
        if returned:
            total += self.when_returned
        if changed:
            total += self.when_changed
        if self.full_scans:
            total += scanned * self.scan_times
        for table in self.count_tables:
            total += size(table)
        return max(total, 0)

    def rows_written(self, changed: int, all_changed: int, inserted_new_row: bool) -> int:
        """Rows written, given ``C``, every row changed (triggers included), and whether
        an upsert inserted (``last_row_id`` moved) rather than updated."""
        if not self.dml:
            return self.fixed_writes
        extra = self.fixed_writes if changed else 0
        per_row = self.index_writes
        if self.update_index_writes is not None and not inserted_new_row:
            per_row = self.update_index_writes
        return changed * (1 + per_row) + max(all_changed - changed, 0) + extra


STATIC_ZERO: Final = Tally()


@dataclass(slots=True)
class _Loop:
    cursor: int
    start: int
    end: int
    full_scan: bool
    returns: bool = False
    limited: bool = False  # holds a LIMIT check (DecrJumpZero)


def analyse(
    ops: Iterable[Op], verb: str, tables: Mapping[int, str], *, upsert: bool = False
) -> Tally:
    """The :class:`Tally` of one statement's bytecode (``EXPLAIN`` rows). ``tables`` maps
    root pages to table names (an index's root page to its table); ``upsert`` says the
    statement has an ``ON CONFLICT ... DO UPDATE`` clause."""
    program = list(ops)
    real: dict[int, int] = {}  # cursor -> root page, for tables and indexes on disk
    index_cursors: set[int] = set()
    written_indexes: set[int] = set()
    seek_eq: set[int] = set()
    temporary: set[int] = set()
    for _addr, opcode, p1, p2, _p3, p4, p5 in program:
        if opcode in ("OpenRead", "OpenWrite", "ReopenIdx"):
            real[p1] = p2
            if isinstance(p4, str) and p4.startswith("k("):
                index_cursors.add(p1)
                if opcode == "OpenWrite":
                    written_indexes.add(p1)
            if p5 & _OPFLAG_SEEKEQ:
                seek_eq.add(p1)
        elif opcode in _TEMPORARY:
            temporary.add(p1)
    loops = [
        _Loop(p1, p2, addr, bool(p5) and opcode != "VNext")
        for addr, opcode, p1, p2, _p3, _p4, p5 in program
        if opcode in _NEXTS and p2 <= addr
    ]
    # Loops driven by a row set (two-pass UPDATE/DELETE) or a co-routine (INSERT's VALUES
    # rows): a backward Goto to a RowSetRead or Yield. They have no cursor of their own.
    starts = {addr: opcode for addr, opcode, *_ in program}
    loops += [
        _Loop(-1, p2, addr, False)
        for addr, opcode, _p1, p2, *_ in program
        if opcode == "Goto" and p2 <= addr and starts.get(p2) in ("RowSetRead", "Yield")
    ]
    probes: set[int] = set()  # cursors of foreign-key child checks (see below)
    for loop in loops:
        body = [op[1] for op in program if loop.start <= op[0] <= loop.end]
        loop.returns = "ResultRow" in body
        loop.limited = "DecrJumpZero" in body
        if "FkCounter" in body:
            probes.add(loop.cursor)
    sequence = {c for c, root in real.items() if tables.get(root) == "sqlite_sequence"}
    # Code that runs only when deferred foreign-key violations are pending: normally never.
    pending_fk = [(addr, p2) for addr, opcode, _p1, p2, *_ in program if opcode == "FkIfZero"]
    # Code under ``Once`` (building a subquery's result, opening a list) runs one time.
    once_blocks = [(addr, p2) for addr, opcode, _p1, p2, *_ in program if opcode == "Once"]
    dml = verb in _DML
    inserts = verb in ("INSERT", "REPLACE")
    fixed = per_returned = per_changed = when_returned = when_changed = 0
    count_tables: list[str] = []
    scan_tables: list[str] = []
    full_scans = False
    fixed_writes = index_inserts = 0
    static_items: dict[int, int] = {}
    looped_items: set[int] = set()

    def inner(addr: int, cursor: int) -> _Loop | None:
        found = None
        for loop in loops:
            inside = loop.start <= addr <= loop.end and loop.cursor != cursor
            if inside and (found is None or loop.start >= found.start):
                found = loop
        return found

    def follows_returned(loop: _Loop | None) -> bool:
        return not dml or (loop is not None and loop.returns)

    # ORDER BY ... LIMIT: older SQLite keeps the best rows in a temporary index, checking
    # its last entry for every row scanned (Last + Delete); D1's SQLite sorts every row the
    # scan yields and reads them all back. Either way: as many rows again as the scan.
    limited: dict[int, _Loop] = {}
    scan_times = 1
    for addr, opcode, p1, *_ in program:
        if opcode in _INSERTS and p1 in temporary:
            around = inner(addr, p1)
            if around is None:
                static_items[p1] = static_items.get(p1, 0) + 1
            else:
                looped_items.add(p1)
        if opcode == "Last" and p1 in temporary:
            around = inner(addr, p1)
            if around is not None and around.full_scan and around.cursor in real:
                limited[p1] = around
    for n, (addr, opcode, p1, _p2, p3, p4, p5) in enumerate(program):
        if any(start < addr < end for start, end in pending_fk):
            continue
        if p1 in probes and (opcode in _SEEKS or opcode in _NEXTS):
            # A foreign-key check looking for child rows: it almost always finds none,
            # and an equality seek that finds nothing reads nothing.
            continue
        if p1 in sequence and opcode in _NEXTS:
            continue  # AUTOINCREMENT finding its sqlite_sequence row: one row read
        if opcode == "Last" and p1 in limited:
            continue
        if opcode in _NEXTS and p1 in limited:
            scan_times += 1
            continue
        if opcode in _STARTS and n and program[n - 1][1] == "NotNull":
            continue  # NOT IN's search for a NULL: only when the probed value is NULL
        around = inner(addr, p1)
        if around is not None and any(start < addr < end for start, end in once_blocks):
            around = None
        per_iteration = opcode in _STARTS or opcode in _ROWID_SEEKS or opcode in _SEEKS
        if per_iteration and around is not None:
            # Runs once per row of an enclosing loop.
            items = static_items.get(around.cursor)
            if around.cursor in temporary and items and around.cursor not in looped_items:
                fixed += items  # once per entry of a constant list (IN (...))
            elif opcode in _SEEKS and p1 in seek_eq and not dml:
                per_returned += 1  # an equality probe per outer row reads only its hits
            elif around.full_scan and around.cursor in real:
                count_tables.append(tables.get(real[around.cursor], ""))
            elif follows_returned(around):
                per_returned += 1
            else:
                per_changed += 1
            continue
        if opcode in _STARTS:
            fixed += 1
        elif opcode in _ROWID_SEEKS:
            if n and program[n - 1][1] == "IdxRowid":
                pass  # REPLACE finding the row a UNIQUE index conflicts with: rare, uncounted
            elif inserts:
                per_changed += 1
            else:
                fixed += 1
        elif opcode in _SEEKS:
            if p1 in seek_eq:
                if dml:
                    when_changed += 1
                else:
                    when_returned += 1
            else:
                fixed += 1
        elif opcode == "Count" and p3 == 0 and p1 in real:
            count_tables.append(tables.get(real[p1], ""))
        elif opcode in _NEXTS:
            closing = next((x for x in loops if x.end == addr), None)
            if closing is None:  # a forward jump: not a loop, counts once at most
                fixed += 1 if opcode == "VNext" else 0
            elif opcode == "VNext":
                per_returned += 1  # every call counts, the last (at the end) too
            elif closing.full_scan:
                full_scans = True
                if p1 in real:
                    scan_tables.append(tables.get(real[p1], ""))
            elif p1 in temporary and p1 in static_items and p1 not in looped_items:
                fixed += max(static_items[p1] - 1, 0)
            elif closing.limited and not closing.returns and not dml:
                pass  # EXISTS (...) / a scalar subquery: it stops at its first row
            else:
                bounded = p1 not in temporary and any(
                    op[1] in _END_CHECKS and closing.start <= op[0] <= closing.end for op in program
                )
                if closing.limited:
                    bounded = False  # LIMIT stops the loop before its last step
                takes_returned = follows_returned(closing) or (p1 in temporary and closing.returns)
                if takes_returned:
                    per_returned += 1
                    when_returned -= 0 if bounded else 1
                else:
                    per_changed += 1
                    when_changed -= 0 if bounded else 1
        elif opcode == "IdxInsert" and p1 in real:
            index_inserts += 1
        writes = opcode in ("Insert", "IdxInsert") or (opcode == "Delete" and p5 & _OPFLAG_NCHANGE)
        # (in DML, only AUTOINCREMENT's sqlite_sequence row is written once)
        once = not dml or (opcode == "Insert" and p4 is None)
        if writes and once and p1 in real and around is None:
            fixed_writes += 1
    if verb == "DELETE" and full_scans and not any(op[1] in _ROWID_SEEKS for op in program):
        returning = any(loop.returns and loop.cursor in temporary for loop in loops)
        if returning or any(op[1] == "FkIfZero" for op in program):
            # D1's SQLite deletes in two passes here (collect, then look each row up).
            per_changed += 1
    index_writes = index_inserts
    update_index_writes = None
    # A WITHOUT ROWID table is an index b-tree that also takes named Inserts: its
    # IdxInsert writes the row itself, not an index entry.
    primary = {op[2] for op in program if op[1] in ("Insert", "Delete") and isinstance(op[5], str)}
    primary &= index_cursors
    if primary:
        index_inserts -= sum(1 for op in program if op[1] == "IdxInsert" and op[2] in primary)
        written_indexes -= primary
        index_writes = index_inserts
    if inserts:
        index_writes = len(written_indexes)
        if upsert:  # the DO UPDATE path writes the indexes its SET changes
            update_index_writes = max(index_inserts - index_writes, 0)
    elif verb == "DELETE":
        index_writes = 0
    varies = per_returned or per_changed or when_returned or when_changed or full_scans or dml
    constant = None if varies or count_tables else (max(fixed, 0), fixed_writes)
    reads_vary = per_returned or when_returned or when_changed or full_scans or count_tables
    per_change = None
    simple_writes = not fixed_writes and update_index_writes is None
    if dml and not reads_vary and simple_writes and fixed >= 0:
        per_change = (fixed, per_changed, 1 + index_writes)
    return Tally(
        constant=constant,
        per_change=per_change,
        fixed=fixed,
        per_returned=per_returned,
        per_changed=per_changed,
        when_returned=when_returned,
        when_changed=when_changed,
        full_scans=full_scans,
        scan_times=scan_times,
        count_tables=tuple(count_tables),
        scan_tables=tuple(scan_tables),
        dml=dml,
        inserts=inserts,
        fixed_writes=fixed_writes,
        index_writes=index_writes,
        update_index_writes=update_index_writes,
    )
