"""D1 over the Cloudflare API: ``/accounts/{account_id}/d1/database...`` (spec: rest-api.md §2).

Databases are the emulator's own: those the configs bind (their ``database_id`` is their
uuid) and those created here. ``query`` and ``raw`` run on the same databases the Workers
use, each call in one transaction, one result per statement.
"""

from __future__ import annotations

from typing import Any

from cfemu.api._http import ApiError, ApiRequest, ApiResponse, Router, ok
from cfemu.d1._sql import split_statements
from cfemu.d1.service import D1Service, DatabaseInfo
from cfemu.errors import D1Error

__all__ = ["add_routes", "statements_of"]

_BASE = "/accounts/{account_id}/d1/database"
_MAX_PER_PAGE = 10_000


def add_routes(router: Router, service: D1Service) -> None:
    """Route the D1 endpoints to ``service``."""

    def found(request: ApiRequest) -> DatabaseInfo:
        ident = request.params["database_id"]
        info = service.find(ident)
        if info is None:
            raise ApiError(404, 7404, f"The database {ident} could not be found")
        return info

    def describe(info: DatabaseInfo) -> dict[str, Any]:
        db = service.open(info)
        return {
            "uuid": info.uuid,
            "name": info.name,
            "created_at": info.created_at,
            "version": "production",
            "num_tables": db.table_count(),
            "file_size": db.size_bytes(),
            "running_in_region": None,
            "read_replication": {"mode": "disabled"},
            "jurisdiction": None,
        }

    async def list_databases(request: ApiRequest) -> ApiResponse:
        name = (request.query_value("name") or "").lower()
        page = request.query_int("page", 1, 1, 1_000_000)
        per_page = request.query_int("per_page", 1000, 10, _MAX_PER_PAGE)
        infos = [i for i in service.catalogue() if name in i.name.lower()]
        chosen = infos[(page - 1) * per_page : page * per_page]
        result = [
            {
                "uuid": i.uuid,
                "name": i.name,
                "created_at": i.created_at,
                "version": "production",
                "jurisdiction": None,
            }
            for i in chosen
        ]
        info = {"page": page, "per_page": per_page, "count": len(result)}
        return ok(result, {**info, "total_count": len(infos)})

    async def create_database(request: ApiRequest) -> ApiResponse:
        body = request.json_object()
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, 10001, "name: a database name is required")
        try:
            info = service.create(name)
        except ValueError as exc:
            raise ApiError(400, 7502, str(exc)) from None
        return ok(describe(info))

    async def get_database(request: ApiRequest) -> ApiResponse:
        return ok(describe(found(request)))

    async def delete_database(request: ApiRequest) -> ApiResponse:
        try:
            service.delete(found(request))
        except ValueError as exc:
            raise ApiError(400, 7400, str(exc)) from None
        return ok(None)

    async def query(request: ApiRequest) -> ApiResponse:
        info = found(request)
        db = service.open(info)
        statements = statements_of(db, request.json_object())
        try:
            results = await db.batch(statements)
        except D1Error as exc:
            raise _sql_error(exc) from None
        return ok([dict(r) for r in results])

    async def raw(request: ApiRequest) -> ApiResponse:
        info = found(request)
        db = service.open(info)
        statements = statements_of(db, request.json_object())
        try:
            results = await db.raw_batch(statements)
        except D1Error as exc:
            raise _sql_error(exc) from None
        return ok(
            [
                {"results": {"columns": columns, "rows": rows}, "meta": meta, "success": True}
                for columns, rows, meta in results
            ]
        )

    router.add("GET", _BASE, list_databases)
    router.add("POST", _BASE, create_database)
    router.add("GET", _BASE + "/{database_id}", get_database)
    router.add("DELETE", _BASE + "/{database_id}", delete_database)
    router.add("POST", _BASE + "/{database_id}/query", query)
    router.add("POST", _BASE + "/{database_id}/raw", raw)

    from cfemu.api import d1_transfer

    # One store per emulator: every API app of it honours the same signed URLs.
    transfers = service.ctx.options.setdefault("api.d1_transfers", d1_transfer.Transfers())
    assert isinstance(transfers, d1_transfer.Transfers)
    d1_transfer.add_routes(router, service, transfers, found)


def statements_of(db: Any, body: dict[str, Any]) -> list[Any]:
    """The prepared statements of a ``{sql, params}`` or ``{batch: [...]}`` body.

    ``sql`` may hold several statements separated by ``;``: each runs in turn and gets its
    own result (cfemu's reading of an unconfirmed point: spec rest-api.md §2). ``params``
    bind the statement when there is one; with several, they bind the last, as D1 binds a
    multi-statement query.
    """
    if "batch" in body:
        items = body["batch"]
        if not isinstance(items, list) or not items:
            raise ApiError(400, 10001, "batch: expected a non-empty list of {sql, params}")
        return [s for item in items for s in _one(db, item)]
    return _one(db, body)


def _one(db: Any, item: Any) -> list[Any]:
    if not isinstance(item, dict) or not isinstance(item.get("sql"), str):
        raise ApiError(400, 10001, "sql: a string of SQL is required")
    params = item.get("params") or []
    if not isinstance(params, list):
        raise ApiError(400, 10001, "params: expected a list")
    texts = split_statements(item["sql"]) or [item["sql"]]
    prepared = [db.prepare(text) for text in texts]
    try:
        prepared[-1] = prepared[-1].bind(*params)
    except D1Error as exc:
        raise _sql_error(exc) from None
    return prepared


def _sql_error(exc: D1Error) -> ApiError:
    """D1's REST form of a failed query: 400, code 7500, SQLite's text and code."""
    text = str(exc)
    for prefix in ("D1_ERROR: ", "D1_TYPE_ERROR: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if not text.endswith(("SQLITE_ERROR", "SQLITE_CONSTRAINT")):
        kind = "SQLITE_CONSTRAINT" if "constraint failed" in text else "SQLITE_ERROR"
        text = f"{text}: {kind}"
    return ApiError(400, 7500, text)
