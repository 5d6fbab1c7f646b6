"""A D1 binding whose statements run on Cloudflare, through the REST API's ``query``/``raw``.

The Worker-facing API is the local binding's (``prepare``, ``bind``, ``first``, ``all``,
``run``, ``raw``, ``batch``, ``exec``); results come back as ``JsDict`` with D1's ``meta``.
A failed statement raises ``D1Error("D1_ERROR: <SQLite's message>")`` as on Cloudflare. Bound
values travel as JSON, so BLOB parameters are not supported remotely.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cfemu._js import JsDict, to_js_dict
from cfemu.d1._sql import split_statements
from cfemu.errors import D1ColumnNotFoundError, D1Error, D1TypeError
from cfemu.remote.client import RemoteApi, RemoteApiError

__all__ = ["RemoteD1Database", "RemoteD1PreparedStatement"]


def _param(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return int(value) if isinstance(value, bool) else value
    raise D1TypeError(
        f"Type '{type(value).__name__}' not supported for value '{value!r}' "
        "(a remote binding sends values as JSON)"
    )


class RemoteD1PreparedStatement:
    """A statement of a :class:`RemoteD1Database`."""

    def __init__(self, db: RemoteD1Database, sql: str, params: tuple[Any, ...] = ()) -> None:
        self._db = db
        self._sql = sql
        self._params = params

    def bind(self, *values: Any) -> RemoteD1PreparedStatement:
        """A new statement with ``values`` bound."""
        return RemoteD1PreparedStatement(self._db, self._sql, tuple(_param(v) for v in values))

    def _body(self) -> dict[str, Any]:
        return {"sql": self._sql, "params": list(self._params)}

    async def all(self) -> JsDict:
        """``{success, meta, results}`` from Cloudflare."""
        results = await self._db._query({"batch": [self._body()]})
        return results[-1]

    async def run(self) -> JsDict:
        """The same as :meth:`all`."""
        return await self.all()

    async def first(self, colName: str | None = None) -> Any:
        """The first row, or one of its columns (``None`` when there are no rows)."""
        rows = (await self.all()).results
        if not rows:
            return None
        row = rows[0]
        if colName is None:
            return row
        if colName not in row:
            raise D1ColumnNotFoundError(f"Column not found ({colName})")
        return row[colName]

    async def raw(
        self, options: Mapping[str, Any] | None = None, *, columnNames: bool = False
    ) -> list[list[Any]]:
        """Rows as lists, the column names first with ``columnNames=True``."""
        names = columnNames or bool(options and options.get("columnNames"))
        result = (await self._db._call("/raw", {"batch": [self._body()]}))[-1]
        data = result.get("results") or {}
        rows = [list(row) for row in data.get("rows", [])]
        return [list(data.get("columns", [])), *rows] if names else rows


class RemoteD1Database:
    """``env.DB`` for a ``[[d1_databases]]`` entry with ``remote = true``."""

    def __init__(self, api: RemoteApi, database_id: str, binding: str = "DB") -> None:
        self._api = api
        self.database_id = database_id
        self.binding = binding

    def __repr__(self) -> str:
        return f"<RemoteD1Database {self.binding} ({self.database_id} at {self._api.base_url})>"

    def prepare(self, sql: str) -> RemoteD1PreparedStatement:
        """A statement for ``sql``."""
        return RemoteD1PreparedStatement(self, sql)

    async def batch(self, statements: Iterable[RemoteD1PreparedStatement]) -> list[JsDict]:
        """Run ``statements`` in one transaction on Cloudflare; their results in order."""
        items = list(statements)
        if not items:
            raise D1Error("No SQL statements detected.")
        return await self._query({"batch": [s._body() for s in items]})

    async def exec(self, query: str) -> JsDict:
        """Run one-off SQL; ``{count, duration}``."""
        if not split_statements(query):
            raise D1Error("No SQL statements detected.")
        results = await self._query({"sql": query})
        duration = sum(float(r.meta.get("duration") or 0) for r in results)
        return JsDict({"count": len(results), "duration": duration})

    async def _query(self, body: Mapping[str, Any]) -> list[JsDict]:
        results = await self._call("/query", body)
        return [to_js_dict(r) for r in results]

    async def _call(self, endpoint: str, body: Mapping[str, Any]) -> list[Any]:
        try:
            result = await self._api.call(
                "POST", f"/d1/database/{self.database_id}{endpoint}", body
            )
        except RemoteApiError as exc:
            raise D1Error(exc.message) from exc
        if not isinstance(result, list):
            raise D1Error(f"unexpected answer from Cloudflare's D1 API: {result!r}")
        return result
