"""The D1 binding as a Python Worker sees it: ``env.DB`` and what it hands out.

Names and shapes are Cloudflare's (spec: d1.md §1-§3, §10): ``prepare``, ``batch``,
``exec``, ``withSession``, ``dump``; statements with ``bind``, ``first``, ``all``, ``run``,
``raw(columnNames=True)``; sessions with ``getBookmark``. Results are
:class:`~cfemu._js.JsDict` at every level, rows included.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from cfemu._faults import Faults
from cfemu._js import JsDict, check_rpc
from cfemu.clock import Clock
from cfemu.d1._errors import NO_STATEMENTS
from cfemu.d1._offload import Move
from cfemu.d1.engine import Engine, Outcome
from cfemu.d1.values import (
    NAME,
    SqlValue,
    column_names,
    row_lists,
    row_object,
    row_objects,
    to_sql,
)
from cfemu.errors import D1ColumnNotFoundError, D1DumpError, D1Error, D1SessionError
from cfemu.limits import D1_MAX_INTEGER, D1_MIN_INTEGER

__all__ = [
    "D1Database",
    "D1DatabaseSession",
    "D1PreparedStatement",
    "database_file",
    "open_database",
]

FIRST_PRIMARY = "first-primary"
FIRST_UNCONSTRAINED = "first-unconstrained"
_CONSTRAINTS = frozenset({FIRST_PRIMARY, FIRST_UNCONSTRAINED})
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_T = TypeVar("_T")


def _nothing() -> None:
    return None


def open_database(
    path: Path | str | None,
    *,
    binding: str = "DB",
    clock: Clock | None = None,
    faults: Faults | None = None,
) -> D1Database:
    """Open a D1 database: in memory when ``path`` is ``None``, else the SQLite file at
    ``path`` (created with its folders, WAL mode).

    ``binding`` is the name fault injection targets (``faults.check("d1.statement",
    binding)``); ``clock`` is where ``meta.duration`` comes from under a virtual clock.
    """
    engine = Engine(
        None if path is None else Path(path), binding=binding, clock=clock, faults=faults
    )
    return D1Database(engine)


def database_file(persist_to: Path | str, storage_key: str) -> Path:
    """Where a persisted database lives: ``<persist_to>/d1/<storage_key>.sqlite``.

    A key that is not a plain file name (characters outside ``A-Z a-z 0-9 . _ -``) is
    sanitized and suffixed with a short hash of the original, so distinct keys never share
    a file.
    """
    if _SAFE_KEY.match(storage_key) and storage_key not in (".", ".."):
        name = storage_key
    else:
        digest = hashlib.sha256(storage_key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        name = f"{_UNSAFE_CHARS.sub('_', storage_key).strip('._')[:64] or 'db'}-{digest}"
    return Path(persist_to) / "d1" / f"{name}.sqlite"


def _result(outcome: Outcome, meta: JsDict) -> JsDict:
    return JsDict(
        {"success": True, "meta": meta, "results": row_objects(outcome.description, outcome.rows)}
    )


def statement_for(
    engine: Engine,
    sql: str,
    params: tuple[SqlValue, ...] = (),
    session: D1DatabaseSession | None = None,
) -> D1PreparedStatement:
    """A statement for ``sql`` on ``engine`` (``prepare()``, sessions, migrations)."""
    statement = D1PreparedStatement()
    statement._engine = engine
    statement._sql = sql
    statement._params = params
    statement._session = session
    return statement


class D1PreparedStatement:
    """A statement from ``prepare(sql)``; ``bind(...)`` returns a new one with values.

    Preparing does no I/O and never fails: errors surface when the statement runs.
    Statements come from ``prepare()`` (as on Cloudflare, the class is not constructed
    directly): the class has no ``__init__``, so making one is a bare allocation, the
    cheapest CPython has (``bind()`` makes one per call, and a batch binds thousands).
    """

    __slots__ = ("_engine", "_params", "_session", "_sql")

    _engine: Engine
    _sql: str
    _params: tuple[SqlValue, ...]
    _session: D1DatabaseSession | None

    @property
    def statement(self) -> str:
        """The SQL text."""
        return self._sql

    @property
    def params(self) -> list[Any]:
        """The bound values as D1 holds them (booleans as 1/0, BLOBs as lists of bytes)."""
        return [list(v) if isinstance(v, bytes) else v for v in self._params]

    def __repr__(self) -> str:
        return f"D1PreparedStatement({self._sql!r}, params={self.params!r})"

    def bind(self, *values: Any) -> D1PreparedStatement:
        """A new statement with ``values`` bound to its ``?``/``?NNN`` parameters.

        Raises ``TypeError: <class 'tuple'> cannot be sent over RPC.`` for a tuple or
        bytearray (Cloudflare's Python SDK refuses them before D1 sees them), and
        ``D1_TYPE_ERROR`` for a value D1 cannot store (see :mod:`cfemu.d1.values`). The
        original statement is unchanged and reusable.
        """
        for value in values:  # the usual values are stored as they are: no call per value
            kind = type(value)
            if kind is str:
                continue
            if kind is int:
                # First bounds small enough for the interpreter's fast integer comparison
                # (one 30-bit digit), as literals (a name would be looked up each time).
                if -1073741823 <= value <= 1073741823 or D1_MIN_INTEGER <= value <= D1_MAX_INTEGER:
                    continue
            elif kind is float:
                if value - value == 0.0:  # finite (not NaN, not infinite)
                    continue
            elif value is None:
                continue
            for item in values:
                check_rpc(item)
            values = tuple([to_sql(item) for item in values])
            break
        bound = D1PreparedStatement()
        bound._engine = self._engine
        bound._sql = self._sql
        bound._params = values
        bound._session = self._session
        return bound

    def _rows(self) -> tuple[Any, list[tuple[SqlValue, ...]]]:
        return self._engine.rows(self._sql, self._params)

    def _run_with_meta(self) -> tuple[Outcome, JsDict]:
        outcome = self._engine.run(self._sql, self._params)
        return outcome, self._engine.meta(outcome)

    async def _execute(self, unit: Callable[[], _T]) -> _T:
        """Run ``unit`` as one D1 call (on the loop, or on the database's thread when long;
        see :mod:`cfemu.d1._offload`)."""
        engine = self._engine
        if engine.faults:
            engine.check_faults()
        share = engine.share
        result = share.here(unit, self._sql)
        if isinstance(result, Move):
            result = await share.moved(unit, self._sql)
        session = self._session
        if session is not None:
            session._observe(engine.bookmark())
        return result

    async def first(self, colName: str | None = None) -> Any:
        """The first row (a ``JsDict``), or ``None`` when there are no rows.

        With ``colName``: that column's value in the first row (``None`` for SQL NULL, or
        when there are no rows); ``D1_COLUMN_NOTFOUND`` when the row has no such column.
        The whole statement runs (no ``LIMIT 1`` is added).
        """
        engine = self._engine
        sql = self._sql
        if engine.faults:
            engine.check_faults()
        share = engine.share
        if share.loop_slice is None and share._busy is None:
            desc, rows = engine.rows(sql, self._params)  # nothing to share: here() inlined
            moved = False
        else:
            result = share.here(self._rows, sql)
            moved = isinstance(result, Move)
            if moved:
                result = await share.moved(self._rows, sql)
            desc, rows = result  # type: ignore[misc]
        if self._session is not None:
            self._session._observe(engine.bookmark())
        if not rows:
            return None
        if moved:  # other queries may have run meanwhile: no kept builder (row_shape())
            row = row_object(map(NAME, desc), rows[0])
        else:
            shape = engine.shapes.get(sql)
            if shape is not None and shape[0] == engine.guard.compiles:
                row = shape[1](rows[0])
            else:
                row = engine.row_shape(sql, desc)(rows[0])
        if colName is None:
            return row
        if colName not in row:
            raise D1ColumnNotFoundError(f"Column not found ({colName})")
        return row[colName]

    async def all(self) -> JsDict:
        """``{success, meta, results}``: every row as a ``JsDict``."""
        return _result(*await self._execute(self._run_with_meta))

    async def run(self) -> JsDict:
        """The same result as :meth:`all` (D1 documents ``run`` as its alias)."""
        return _result(*await self._execute(self._run_with_meta))

    async def raw(
        self, options: Mapping[str, Any] | None = None, *, columnNames: bool = False
    ) -> list[list[Any]]:
        """Rows as lists of values; with ``columnNames=True`` the first list holds the
        column names (duplicates kept), even when there are no rows.

        ``options`` accepts the JavaScript form ``{"columnNames": True}`` too.
        """
        with_names = columnNames or bool(options is not None and options.get("columnNames"))
        desc, rows = await self._execute(self._rows)
        values = row_lists(rows)
        if with_names:
            return [column_names(desc), *values]
        return values


_ONLY_STATEMENTS = frozenset({D1PreparedStatement})


def _statements(statements: Iterable[Any]) -> list[D1PreparedStatement]:
    items = statements if isinstance(statements, list) else list(statements)
    if _ONLY_STATEMENTS.issuperset(map(type, items)):  # in C: no Python step per statement
        return items
    for statement in items:
        if type(statement) is not D1PreparedStatement:
            raise TypeError(
                "batch() takes a list of prepared statements (DB.prepare(...)), "
                f"not {type(statement).__name__}"
            )
    return items


class D1DatabaseSession:
    """A session from ``withSession(...)``: sequential consistency across its queries.

    Locally there is one copy of the database, so every query sees the latest data; the
    session still tracks bookmarks as D1 does: ``getBookmark()`` is ``None`` until a query
    has run (unless the session started from a bookmark), then the latest one seen.
    """

    __slots__ = ("_bookmark_or_constraint", "_engine")

    def __init__(self, engine: Engine, bookmark_or_constraint: str) -> None:
        if not bookmark_or_constraint:
            raise D1SessionError("invalid bookmark or constraint")
        self._engine = engine
        self._bookmark_or_constraint = bookmark_or_constraint

    def _observe(self, bookmark: str) -> None:
        current = self.getBookmark()
        if current is None or current < bookmark:
            self._bookmark_or_constraint = bookmark

    def prepare(self, sql: str) -> D1PreparedStatement:
        """A statement that runs in this session."""
        return statement_for(self._engine, sql, (), self)

    async def batch(self, statements: Iterable[D1PreparedStatement]) -> list[JsDict]:
        """Like ``DB.batch``, in this session."""
        engine = self._engine
        items = _statements(statements)
        engine.check_faults()
        results = await engine.share.run(partial(engine.run_batch, items))
        self._observe(engine.bookmark())
        return results

    def getBookmark(self) -> str | None:
        """The latest bookmark this session has seen, or ``None``."""
        value = self._bookmark_or_constraint
        return None if value in _CONSTRAINTS else value


class D1Database:
    """``env.DB``: one D1 database (see :func:`open_database`)."""

    __slots__ = ("_engine",)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __repr__(self) -> str:
        where = "memory" if self._engine.path is None else str(self._engine.path)
        return f"<D1Database {self._engine.binding} ({where})>"

    @property
    def binding(self) -> str:
        """The binding name this database answers to (fault injection's target)."""
        return self._engine.binding

    @property
    def path(self) -> Path | None:
        """The SQLite file, or ``None`` for an in-memory database."""
        return self._engine.path

    def prepare(self, sql: str) -> D1PreparedStatement:
        """A statement for ``sql`` (no I/O; errors surface when it runs)."""
        return statement_for(self._engine, sql)

    async def batch(self, statements: Iterable[D1PreparedStatement]) -> list[JsDict]:
        """Run ``statements`` in order in one transaction; their results, in order.

        If any statement fails, nothing of the batch is kept and that statement's error is
        raised. ``meta.size_after`` is the size after the batch on every result.
        """
        engine = self._engine
        items = _statements(statements)
        engine.check_faults()
        return await engine.share.run(partial(engine.run_batch, items))

    async def exec(self, query: str) -> JsDict:
        """Run one-off SQL without bindings: each line is one query (D1 splits on ``\\n``;
        a statement spanning lines breaks). Returns ``{count, duration}``.

        Locally all lines run in one transaction, like Miniflare: a failing line rolls
        back the others. Errors read ``D1_EXEC_ERROR: Error in line 1: <first line>:
        <message>`` - D1 always names the first line; a note names the failing one.
        """
        engine = self._engine
        engine.check_faults()
        count, duration = await engine.share.run(partial(engine.run_exec, query))
        return JsDict({"count": count, "duration": duration})

    def withSession(self, constraintOrBookmark: str | None = None) -> D1DatabaseSession:
        """A session: ``"first-unconstrained"`` (default), ``"first-primary"``, or a
        bookmark from ``getBookmark()`` to continue from."""
        if constraintOrBookmark is not None and not isinstance(constraintOrBookmark, str):
            raise TypeError("withSession() takes a constraint or bookmark string")
        value = (constraintOrBookmark or "").strip() or FIRST_UNCONSTRAINED
        return D1DatabaseSession(self._engine, value)

    async def dump(self) -> bytes:
        """The whole database as the bytes of an SQLite file (D1's deprecated ``dump``).

        cfemu's choice: the serialized database (``sqlite3.Connection.serialize``), which
        ``sqlite3`` can open again. Large databases are serialized on a worker thread.
        """
        engine = self._engine
        await engine.share.run(_nothing)  # after a query running on the thread, if any
        try:
            if engine.size() > engine.dump_thread_threshold:
                return await asyncio.to_thread(engine.serialize_off_thread)
            return engine.serialize()
        except Exception as exc:
            raise D1DumpError(str(exc)) from exc

    @property
    def max_query_seconds(self) -> float | None:
        """D1's query duration limit in real seconds (30; cfemu's own API, ``None``: none).

        A query (a statement, a ``batch()``, an ``exec()``) still running past it is
        interrupted and rolled back: ``D1_ERROR: D1 DB storage operation exceeded timeout
        which caused object to be reset.`` Tests set a small value instead of waiting.
        """
        return self._engine.deadline.limit

    @max_query_seconds.setter
    def max_query_seconds(self, value: float | None) -> None:
        if value is not None and not value > 0:
            raise ValueError(f"max_query_seconds must be > 0 or None, got {value!r}")
        self._engine.deadline.limit = value

    # --- cfemu's own API (the REST API and tools use it; Workers do not see it) ---------
    def size_bytes(self) -> int:
        """The database's size in bytes (what D1 reports as ``size_after``/``file_size``)."""
        return self._engine.size()

    def table_count(self) -> int:
        """How many tables users created (SQLite's and D1's internal tables excluded)."""
        rows = self._engine.trusted(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'"
        )
        count = rows[0][0]
        return count if isinstance(count, int) else 0

    async def raw_batch(
        self, statements: Iterable[D1PreparedStatement]
    ) -> list[tuple[list[str], list[list[Any]], JsDict]]:
        """Run ``statements`` in one transaction, as :meth:`batch` does, returning each
        statement's column names (duplicates kept, present even with no rows), rows as
        lists, and ``meta`` - the shape of D1's REST ``raw`` endpoint."""
        engine = self._engine
        items = _statements(statements)
        if not items:
            raise D1Error(NO_STATEMENTS)
        engine.check_faults()

        def unit() -> list[tuple[list[str], list[list[Any]], JsDict]]:
            engine.begin()
            try:
                outcomes = [engine.run(s._sql, s._params) for s in items]
                engine.commit()
            except BaseException:
                engine.rollback()
                raise
            return [
                (
                    column_names(o.description),
                    row_lists(o.rows),
                    engine.meta(o),
                )
                for o in outcomes
            ]

        return await engine.share.run(unit)  # on the loop, or on the thread when long

    def close(self) -> None:
        """Close the database (cfemu's own API; idempotent)."""
        self._engine.close()
