"""D1 in the Local Explorer API: the routes Cloudflare's local explorer has (spec §7).

``GET /d1/database`` lists ``{uuid, name, version}``; ``POST /d1/database/{id}/raw`` runs
``{sql, params?}`` or ``{batch: [...]}`` on the database the Workers use. A failing
statement is Cloudflare's local explorer error: 500, code 10001, with D1's own message
(the one a Worker's ``D1_ERROR`` carries; the exact text is **unconfirmed**). As there,
a result's ``columns`` are those of its first row: ``[]`` when it has no rows. cfemu's own
views (tables, paged rows, migrations, export) are in :mod:`cfemu.explorer.d1_browse`.
"""

from __future__ import annotations

from typing import Any, Final

from cfemu.api._http import ApiError, ApiRequest, ApiResponse, Router, ok
from cfemu.api.d1 import statements_of
from cfemu.d1.service import D1Service
from cfemu.errors import D1Error
from cfemu.explorer.checks import json_body

__all__ = ["add_routes"]


#: The fields of a result's ``meta`` Cloudflare's explorer gives (D1's others are left out).
_META: Final = (
    "changed_db",
    "changes",
    "duration",
    "last_row_id",
    "rows_read",
    "rows_written",
    "size_after",
    "timings",
)


def _single(item: Any) -> dict[str, Any] | None:
    """``{sql, params?}`` (params: strings, as Cloudflare's schema has them), or ``None``."""
    if not isinstance(item, dict) or not isinstance(item.get("sql"), str):
        return None
    params = item.get("params", [])
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        return None
    return {"sql": item["sql"], "params": params}


def _raw_body(body: Any) -> dict[str, Any] | None:
    """The statement(s) of a ``raw`` body as Cloudflare's explorer reads it: a single query
    when it is one (other keys ignored), else ``{batch: [...]}``; ``None`` when neither."""
    single = _single(body)
    if single is not None:
        return single
    if isinstance(body, dict) and isinstance(body.get("batch"), list):
        batch = [_single(item) for item in body["batch"]]
        if all(item is not None for item in batch):
            return {"batch": batch}
    return None


def add_routes(router: Router, service: D1Service) -> None:
    """Route ``/d1/database`` and ``/d1/database/{database_id}/raw`` to ``service``."""

    async def list_databases(request: ApiRequest) -> ApiResponse:
        name = (request.query_value("name") or "").lower()
        result = [
            {"uuid": info.uuid, "name": info.name, "version": "production"}
            for info in service.catalogue()
            if name in info.name.lower()
        ]
        return ok(result, {"count": len(result)})

    async def raw(request: ApiRequest) -> ApiResponse:
        body = _raw_body(json_body(request))
        if body is None:  # neither {sql, params?} nor {batch: [...]}
            raise ApiError(400, 10001, "Invalid input")
        ident = request.params["database_id"]
        info = service.find(ident)
        if info is None:
            raise ApiError(404, 7404, f"The database {ident} could not be found")
        if body.get("batch") == []:
            return ok([])
        db = service.open(info)
        try:
            results = await db.raw_batch(statements_of(db, body))
        except D1Error as exc:
            raise ApiError(500, 10001, str(exc)) from None
        except ApiError as exc:
            if exc.code != 7500:
                raise
            raise ApiError(500, 10001, exc.message) from None
        return ok(
            [
                # spec §7: columns come from the first row, so none without rows
                {
                    "results": {"columns": columns if rows else [], "rows": rows},
                    "meta": {key: meta.get(key) for key in _META},
                    "success": True,
                }
                for columns, rows, meta in results
            ]
        )

    router.add("GET", "/d1/database", list_databases)
    router.add("POST", "/d1/database/{database_id}/raw", raw)
