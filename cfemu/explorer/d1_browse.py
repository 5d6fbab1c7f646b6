"""D1 views of the Local Explorer beyond Cloudflare's ``/raw``: cfemu's own routes.

Cloudflare's local explorer has only ``GET /d1/database`` and ``POST .../raw`` (its page
builds everything from raw SQL). cfemu adds read-only routes its page and scripts use:

- ``GET /d1/database/{id}/tables``: every table and view with its ``CREATE`` statement,
  columns (``PRAGMA table_info``) and, for tables, its row count.
- ``GET /d1/database/{id}/tables/{table}/rows?page=&per_page=``: one page of rows (in
  ``rowid`` order, or primary-key order for a ``WITHOUT ROWID`` table), with the total.
- ``GET /d1/database/{id}/migrations``: the applied migrations (the tracking table's rows)
  and the pending ones (files not yet applied); nothing is created or applied.
- ``GET /d1/database/{id}/export?no_data=&no_schema=&table=``: the database as an SQL dump
  (``cfemu d1 export``'s text), downloaded as ``<name>.sql``.

Every query runs through the database's own D1 API, as the Workers' queries do.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final

from cfemu.api._http import ApiError, ApiRequest, ApiResponse, Router, ok
from cfemu.d1.database import D1Database
from cfemu.d1.service import D1Service, DatabaseInfo
from cfemu.errors import CfemuError, D1Error

__all__ = ["MAX_PER_PAGE", "add_routes"]

#: The largest page of rows ``/rows`` returns (and its default).
MAX_PER_PAGE: Final = 1000
DEFAULT_PER_PAGE: Final = 100
_HIDDEN: Final = "name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _query(db: D1Database, sql: str, *params: Any) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of one read-only statement (D1's error as 500/10001, as ``/raw``)."""
    try:
        [(columns, rows, _)] = await db.raw_batch([db.prepare(sql).bind(*params)])
    except D1Error as exc:
        raise ApiError(500, 10001, str(exc)) from None
    return columns, rows


async def _objects(db: D1Database) -> list[tuple[str, str, str | None]]:
    """(name, type, sql) of every user table and view, by name."""
    _, rows = await _query(
        db,
        f"SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
        f"AND {_HIDDEN} ORDER BY name",
    )
    return [(str(r[0]), str(r[1]), None if r[2] is None else str(r[2])) for r in rows]


def _flag(request: ApiRequest, name: str) -> bool:
    value = (request.query_value(name) or "").lower()
    return value in ("1", "true", "yes")


def add_routes(router: Router, service: D1Service) -> None:
    """Route the explorer's D1 ``tables``, ``rows``, ``migrations`` and ``export`` views."""

    def found(request: ApiRequest) -> tuple[DatabaseInfo, D1Database]:
        ident = request.params["database_id"]
        info = service.find(ident)
        if info is None:
            raise ApiError(404, 7404, f"The database {ident} could not be found")
        return info, service.open(info)

    async def tables(request: ApiRequest) -> ApiResponse:
        _, db = found(request)
        result = []
        for name, kind, sql in await _objects(db):
            info_columns, info_rows = await _query(db, f"PRAGMA table_info({_ident(name)})")
            columns = [dict(zip(info_columns, row, strict=True)) for row in info_rows]
            count = None
            if kind == "table":
                _, counted = await _query(db, f"SELECT count(*) FROM {_ident(name)}")
                count = counted[0][0]
            result.append(
                {"name": name, "type": kind, "sql": sql, "columns": columns, "row_count": count}
            )
        return ok(result, {"count": len(result)})

    async def rows(request: ApiRequest) -> ApiResponse:
        _, db = found(request)
        table = request.params["table"]
        listed = {name: kind for name, kind, _ in await _objects(db)}
        if table not in listed:
            raise ApiError(404, 10001, f"no such table: {table}")
        page = request.query_int("page", 1, 1, 1_000_000_000)
        per_page = request.query_int("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        _, counted = await _query(db, f"SELECT count(*) FROM {_ident(table)}")
        total = int(counted[0][0])
        order = ""
        if listed[table] == "table":
            _, info = await _query(db, "PRAGMA table_list")
            without_rowid = any(r[1] == table and r[0] == "main" and r[4] for r in info)
            if without_rowid:
                _, pk = await _query(db, f"PRAGMA table_info({_ident(table)})")
                keys = sorted((r[5], str(r[1])) for r in pk if r[5])
                order = " ORDER BY " + ", ".join(_ident(k) for _, k in keys)
            else:
                order = " ORDER BY rowid"
        columns, found_rows = await _query(
            db,
            f"SELECT * FROM {_ident(table)}{order} LIMIT ? OFFSET ?",
            per_page,
            (page - 1) * per_page,
        )
        info_out = {
            "page": page,
            "per_page": per_page,
            "count": len(found_rows),
            "total_count": total,
            "total_pages": max(1, math.ceil(total / per_page)),
        }
        return ok({"columns": columns, "rows": found_rows}, info_out)

    async def migrations(request: ApiRequest) -> ApiResponse:
        info, db = found(request)
        folder, table, pattern = _migrations_setup(service, info)
        _, exists = await _query(
            db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", table
        )
        applied: list[dict[str, Any]] = []
        if exists[0][0]:
            names, got = await _query(
                db, f"SELECT id, name, applied_at FROM {_ident(table)} ORDER BY id"
            )
            applied = [dict(zip(names, row, strict=True)) for row in got]
        files: list[str] = []
        if folder is not None:
            from cfemu.d1.migrations import list_migrations

            try:
                files = list_migrations(folder, pattern)
            except CfemuError as exc:
                raise ApiError(400, 10001, str(exc)) from None
        done = {str(row["name"]) for row in applied}
        return ok(
            {
                "migrations_dir": None if folder is None else str(folder),
                "migrations_table": table,
                "applied": applied,
                "pending": [name for name in files if name not in done],
            }
        )

    async def export(request: ApiRequest) -> ApiResponse:
        from cfemu.d1.export import export_sql

        info, db = found(request)
        tables_wanted = request.query.get("table", [])
        try:
            statements = list(
                export_sql(
                    db,
                    schema=not _flag(request, "no_schema"),
                    data=not _flag(request, "no_data"),
                    tables=tables_wanted,
                )
            )
        except CfemuError as exc:
            raise ApiError(400, 10001, str(exc)) from None
        text = "".join(f"{s}\n" for s in statements).encode()
        filename = "".join(c if c.isalnum() or c in "._-" else "_" for c in info.name) or "d1"
        return ApiResponse(
            200,
            text,
            {
                "content-type": "application/sql; charset=utf-8",
                "content-disposition": f'attachment; filename="{filename}.sql"',
            },
            raw=True,
        )

    base = "/d1/database/{database_id}"
    router.add("GET", base + "/tables", tables)
    router.add("GET", base + "/tables/{table}/rows", rows)
    router.add("GET", base + "/migrations", migrations)
    router.add("GET", base + "/export", export)


def _migrations_setup(service: D1Service, info: DatabaseInfo) -> tuple[Path | None, str, str]:
    """The migrations folder, tracking table and file pattern of the first Worker binding
    ``info``'s database (no folder for a database no config binds)."""
    from cfemu.d1.layout import DEFAULT_PATTERN
    from cfemu.limits import D1_DEFAULT_MIGRATIONS_TABLE

    for config in service.ctx.configs:
        for entry in config.d1_databases:
            if entry.storage_key == info.storage_key and not entry.remote:
                try:
                    pattern = entry.migrations_glob()
                except CfemuError as exc:
                    raise ApiError(400, 10001, str(exc)) from None
                folder = entry.migrations_path(config.path.parent)
                return folder, entry.migrations_table, pattern
    return None, D1_DEFAULT_MIGRATIONS_TABLE, DEFAULT_PATTERN
