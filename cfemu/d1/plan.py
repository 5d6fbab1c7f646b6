"""What cfemu learns from a SQL text before running it: its statements, verbs and checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from cfemu.d1 import _sql
from cfemu.d1._errors import NO_STATEMENTS, TOO_LONG, VACUUM_IN_TRANSACTION
from cfemu.d1.guard import BOOLEAN_PRAGMAS
from cfemu.d1.values import SqlValue
from cfemu.limits import D1_MAX_SQL_BYTES

__all__ = ["EMPTY_ROWS", "NO_PLAN", "Params", "Plan", "Rows", "Statement", "make_plan"]

Params = tuple[SqlValue, ...]
Rows = list[tuple[SqlValue, ...]]
EMPTY_ROWS: Final[Rows] = []

#: Statements that change the schema: they count as changing the database in a batch.
_DDL_VERBS: Final = frozenset({"CREATE", "DROP", "ALTER", "REINDEX", "ANALYZE", "PRAGMA"})
_READS_CHANGED_ROWS: Final = frozenset({"UPDATE", "DELETE"})
_READS_NOTHING_SEEN: Final = frozenset({"INSERT", "REPLACE"})


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
    #: One read-only statement that changes nothing, not even a PRAGMA setting: what
    #: ``first()`` and ``raw()`` run on the lean path (:meth:`Engine.rows`).
    lean: bool = False


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
        error = VACUUM_IN_TRANSACTION  # every D1 query runs inside a transaction
    resets = False
    for statement, verb in zip(statements, verbs, strict=True):
        if verb == "PRAGMA":
            name, has_value = _sql.pragma_name_and_value(statement)
            resets = resets or (has_value and name in BOOLEAN_PRAGMAS)
    last = verbs[-1] if verbs else ""
    readonly = bool(verbs) and all(v in _sql.READ_VERBS for v in verbs)
    ddl = any(v in _DDL_VERBS for v in verbs)
    return Plan(
        statements=statements,
        verb=last,
        single=len(statements) == 1,
        readonly=readonly,
        reads_changed_rows=last in _READS_CHANGED_ROWS,
        reads_returned_rows=last not in _READS_CHANGED_ROWS and last not in _READS_NOTHING_SEEN,
        resets_pragmas=resets,
        ddl=ddl,
        error=error,
        lean=error is None and len(statements) == 1 and readonly and not resets and not ddl,
    )


NO_PLAN: Final = make_plan("")
