"""``ctx.storage.sql``: synchronous SQL on the object's SQLite database.

spec: durable-objects.md §4.1. ``exec(query, *bindings)`` runs every ``;``-separated
statement and returns a cursor over the last one (only the last may have ``?`` bindings).
The restrictions are D1's (:mod:`cfemu.d1.guard`: transactions, ``_cf_`` names, PRAGMAs,
functions, limits), with the wording workerd gives Durable Objects. Results are read at
once (cursors are meant to be consumed before the next ``await``); rows are
:class:`~cfemu._js.JsDict` keyed by column name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any, Final

from cfemu._js import JsDict
from cfemu.d1 import _sql
from cfemu.d1.guard import TRANSACTION_MESSAGE
from cfemu.durable_objects.database import ObjectDatabase
from cfemu.durable_objects.errors import DurableObjectError, DurableObjectTypeError
from cfemu.durable_objects.values import js_number

__all__ = ["SqlStorage", "SqlStorageCursor"]

NO_STATEMENT: Final = "SQL code did not contain a statement."
WRONG_BINDINGS: Final = "Wrong number of parameter bindings for SQL query."
_PLAN_CACHE_SIZE: Final = 512


def _binding(value: Any) -> Any:
    if value is None or isinstance(value, str | float):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise DurableObjectTypeError(
        f"Unsupported type for SQL binding: {type(value).__name__} (use str, int, float, "
        "bytes or None)"
    )


def _translate(exc: Exception, db: ObjectDatabase) -> DurableObjectError:
    message = str(exc)
    denial, db.guard.denial = db.guard.denial, None
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(exc, sqlite3.ProgrammingError) and message.startswith("Incorrect number"):
        return DurableObjectError(WRONG_BINDINGS)
    if name == "SQLITE_AUTH" or message == "not authorized":
        if denial is not None and denial.transaction:
            return DurableObjectError(TRANSACTION_MESSAGE)
        err = DurableObjectError("not authorized: SQLITE_AUTH")
        if denial is not None:
            err.add_note(f"cfemu: {denial.reason.replace('D1', 'Durable Objects')}")
        return err
    if isinstance(exc, sqlite3.DataError) and message == "query string is too large":
        return DurableObjectError("statement too long: SQLITE_TOOBIG")
    if name and name not in ("SQLITE_ERROR",):
        return DurableObjectError(f"{message}: {name}")
    return DurableObjectError(message)


class SqlStorageCursor:
    """The result of ``sql.exec``: iterate it, or ``toArray()``, ``one()``, ``raw()``."""

    __slots__ = ("_pos", "_rows", "columnNames", "rowsRead", "rowsWritten")

    def __init__(
        self, columns: list[str], rows: list[tuple[Any, ...]], read: int, written: int
    ) -> None:
        #: The result's column names, in order (duplicates kept).
        self.columnNames = columns
        self._rows = rows
        self._pos = 0
        #: Rows read by the query (cfemu counts rows returned, at least one per write).
        self.rowsRead = read
        #: Rows the query inserted, updated or deleted.
        self.rowsWritten = written

    def _row(self, values: tuple[Any, ...]) -> JsDict:
        return JsDict(zip(self.columnNames, map(js_number, values), strict=False))

    def __iter__(self) -> Iterator[JsDict]:
        return self

    def __next__(self) -> JsDict:
        if self._pos >= len(self._rows):
            raise StopIteration
        self._pos += 1
        return self._row(self._rows[self._pos - 1])

    def next(self) -> JsDict:
        """JavaScript's iterator protocol: ``{done, value}``."""
        try:
            return JsDict(done=False, value=next(self))
        except StopIteration:
            return JsDict(done=True, value=None)

    def toArray(self) -> list[JsDict]:
        """The remaining rows as a list."""
        return list(self)

    def one(self) -> JsDict:
        """Exactly one row; an error for none or several."""
        rest = self.toArray()
        if not rest:
            raise DurableObjectError(
                "Expected exactly one result from SQL query, but got no results."
            )
        if len(rest) > 1:
            raise DurableObjectError(
                "Expected exactly one result from SQL query, but got multiple results."
            )
        return rest[0]

    def raw(self) -> Iterator[list[Any]]:
        """The remaining rows as value lists (shares the position with row iteration)."""
        while self._pos < len(self._rows):
            self._pos += 1
            yield [js_number(v) for v in self._rows[self._pos - 1]]

    def __repr__(self) -> str:
        return f"SqlStorageCursor(columns={self.columnNames!r}, rows={len(self._rows)})"


class SqlStorage:
    """``ctx.storage.sql``: ``exec(query, *bindings)`` and ``databaseSize``."""

    __slots__ = ("_before", "_db", "_plans")

    def __init__(self, db: ObjectDatabase, before: Any = None) -> None:
        self._db = db
        self._before = before  # called before each statement (fault injection, gates)
        self._plans: dict[str, tuple[list[str], bool]] = {}

    def _plan(self, query: str) -> tuple[list[str], bool]:
        plan = self._plans.get(query)
        if plan is None:
            statements = _sql.split_statements(query)
            readonly = all(_sql.leading_verb(s) in _sql.READ_VERBS for s in statements)
            plan = (statements, readonly)
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            self._plans[query] = plan
        return plan

    def exec(self, query: str, *bindings: Any) -> SqlStorageCursor:
        """Run ``query`` (one or more statements) and return a cursor over the last one."""
        if not isinstance(query, str):
            raise DurableObjectTypeError(
                f"exec() expects the SQL as a string, got {type(query).__name__}"
            )
        if self._before is not None:
            self._before()
        statements, readonly = self._plan(query)
        if not statements:
            raise DurableObjectError(NO_STATEMENT)
        db = self._db
        conn = db.conn
        params = [_binding(b) for b in bindings]
        if not readonly:
            db.begin_write()
        before = conn.total_changes
        try:
            for statement in statements[:-1]:
                conn.execute(statement)
            cursor = conn.execute(statements[-1], params)
            rows = cursor.fetchall()
        except (sqlite3.Error, OverflowError) as exc:
            raise _translate(exc, db) from None
        columns = [d[0] for d in cursor.description] if cursor.description else []
        written = conn.total_changes - before
        return SqlStorageCursor(columns, rows, max(len(rows), written), written)

    @property
    def databaseSize(self) -> int:
        """The database's size in bytes: (pages - free pages) x page size."""
        return self._db.size()

    def __repr__(self) -> str:
        return "SqlStorage()"
