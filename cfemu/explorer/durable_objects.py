"""Durable Objects in the Local Explorer API (spec §7), reading the objects' storage.

Cloudflare's local explorer routes:

- ``GET /workers/durable_objects/namespaces``: ``[{id, name, script, class, use_sqlite}]``;
  ``id`` is the namespace's ``<script>-<Class>`` (the folder of its objects' files).
- ``GET .../namespaces/{id}/objects?limit=&cursor=``: the objects that have storage, by id:
  ``[{id, name?, hasStoredData}]``, ``result_info: {count, cursor}``.
- ``POST .../namespaces/{id}/query`` ``{durable_object_id | durable_object_name, queries:
  [{sql, params?}]}``: ``[{columns, rows, meta: {rows_read, rows_written}}]``.

cfemu's differences (its decisions): ``query`` is **read-only** (``PRAGMA query_only``: a
write is refused with SQLite's ``attempt to write a readonly database``), so browsing never
changes an object behind its input and output gates; it runs one statement per query; an
object without storage is queried as an empty database and is not created. cfemu adds
``GET .../objects/{object_id}``: the object's tables, key-value pairs count, size and pending
alarm, and ``GET .../objects/{object_id}/kv?limit=&cursor=``: its key-value pairs (values
previewed as JSON). Nothing here wakes an object (its constructor does not run).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, Final

import orjson

from cfemu.api._http import ApiError, ApiRequest, ApiResponse, Router, ok
from cfemu.explorer.checks import Issues, json_body, query_number, raise_issues

if TYPE_CHECKING:
    from cfemu.durable_objects.database import ObjectDatabase
    from cfemu.durable_objects.namespace import NamespaceRuntime
    from cfemu.durable_objects.service import DurableObjectsService

__all__ = ["PREVIEW_CHARS", "add_routes"]

#: How much of a key-value pair's value the ``kv`` route shows.
PREVIEW_CHARS: Final = 200
_HIDDEN: Final = "name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'"


def _preview(value: Any) -> str:
    try:
        text = orjson.dumps(value, default=repr).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def add_routes(router: Router, service: DurableObjectsService | None) -> None:
    """Route the explorer's ``/workers/durable_objects`` endpoints (``None``: no classes)."""

    def runtimes() -> dict[str, NamespaceRuntime]:
        return {} if service is None else dict(service.runtimes)

    def namespace(request: ApiRequest) -> NamespaceRuntime:
        ident = request.params["namespace_id"]
        found = runtimes().get(ident)
        if found is None:
            raise ApiError(404, 10066, f"Durable Object namespace ID '{ident}' not found.")
        return found

    def stored(runtime: NamespaceRuntime, hex_id: str) -> ObjectDatabase:
        """The database of an object that has storage (404 otherwise); not woken."""
        if hex_id not in runtime.stored_ids():
            raise ApiError(404, 10001, f"Durable Object {hex_id} has no stored data")
        return runtime.actor(runtime.ids.from_string(hex_id)).db

    async def list_namespaces(request: ApiRequest) -> ApiResponse:
        result = [
            {
                "id": label,
                "name": f"{rt.script}_{rt.class_name}",
                "script": rt.script,
                "class": rt.class_name,
                "use_sqlite": rt.sql_enabled,
            }
            for label, rt in sorted(runtimes().items())
        ]
        return ok(result, {"count": len(result)})

    async def list_objects(request: ApiRequest) -> ApiResponse:
        issues = Issues()
        limit = query_number(request, issues, "limit", 1000, low=10, high=10_000)
        raise_issues(issues)  # checked before the namespace is looked up, as there
        runtime = namespace(request)
        cursor = request.query_value("cursor") or ""
        ids = [i for i in runtime.stored_ids() if i > cursor]
        chosen = ids[:limit]
        result: list[dict[str, Any]] = []
        for hex_id in chosen:
            item: dict[str, Any] = {"id": hex_id}
            name = runtime.name_of(hex_id)
            if name is not None:
                item["name"] = name
            item["hasStoredData"] = True
            result.append(item)
        more = len(ids) > limit
        return ok(result, {"count": len(result), "cursor": chosen[-1] if more else ""})

    async def describe_object(request: ApiRequest) -> ApiResponse:
        runtime = namespace(request)
        hex_id = request.params["object_id"]
        db = stored(runtime, hex_id)
        tables = []
        listed = db.trusted(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'table' AND {_HIDDEN} ORDER BY name"
        )
        for name, sql in listed:
            [(count,)] = db.trusted(f"SELECT count(*) FROM {_ident(name)}")
            tables.append({"name": name, "sql": sql, "row_count": count})
        kv_keys = db.trusted("SELECT count(*) FROM _cf_KV")[0][0] if db.has_kv else 0
        alarm = db.get_meta("alarm")
        return ok(
            {
                "id": hex_id,
                "name": runtime.name_of(hex_id),
                "use_sqlite": runtime.sql_enabled,
                "size_bytes": db.size(),
                "alarm": None if alarm is None else int(alarm),
                "tables": tables,
                "kv_keys": kv_keys,
            }
        )

    async def list_kv(request: ApiRequest) -> ApiResponse:
        from cfemu.durable_objects.kv import KvStore

        runtime = namespace(request)
        db = stored(runtime, request.params["object_id"])
        limit = request.query_int("limit", 100, 1, 1000)
        options: dict[str, Any] = {"limit": limit + 1}
        cursor = request.query_value("cursor")
        if cursor:
            options["startAfter"] = cursor
        pairs = list(KvStore(db).list(options))
        result = [{"key": key, "value_preview": _preview(value)} for key, value in pairs[:limit]]
        more = len(pairs) > limit
        return ok(result, {"count": len(result), "cursor": result[-1]["key"] if more else ""})

    async def query(request: ApiRequest) -> ApiResponse:
        body = json_body(request)
        by = _query_target(body)
        if by is None:  # neither {durable_object_id, queries} nor {durable_object_name, ...}
            raise ApiError(400, 10001, "Invalid input")
        runtime = namespace(request)
        label = request.params["namespace_id"]
        if not runtime.sql_enabled:
            raise ApiError(400, 10001, f"Namespace does not use SQLite storage: {label}")
        try:
            if by == "durable_object_id":
                object_id = runtime.ids.from_string(body[by])
            else:
                object_id = runtime.ids.from_name(body[by])
        except (TypeError, ValueError) as exc:
            raise ApiError(400, 10001, str(exc)) from None
        queries = body["queries"]
        if not queries:
            raise ApiError(400, 10001, "No queries provided")
        hex_id = object_id.toString()
        if hex_id in runtime.stored_ids():
            return ok(_read_only(runtime.actor(object_id).db, queries))
        from cfemu.durable_objects.database import ObjectDatabase

        empty = ObjectDatabase(None)  # no storage: an empty database, nothing created
        try:
            return ok(_read_only(empty, queries))
        finally:
            empty.close()

    base = "/workers/durable_objects/namespaces"
    router.add("GET", base, list_namespaces)
    router.add("GET", base + "/{namespace_id}/objects", list_objects)
    router.add("GET", base + "/{namespace_id}/objects/{object_id}", describe_object)
    router.add("GET", base + "/{namespace_id}/objects/{object_id}/kv", list_kv)
    router.add("POST", base + "/{namespace_id}/query", query)


def _query_target(body: Any) -> str | None:
    """Which key names the object of a valid ``query`` body (``durable_object_id`` first, as
    the union of Cloudflare's schema tries it), or ``None`` when the body is neither shape:
    ``{durable_object_id | durable_object_name: non-empty string, queries: [{sql: non-empty
    string, params?: list}]}``."""
    if not isinstance(body, dict):
        return None
    queries = body.get("queries")
    if not isinstance(queries, list) or not all(
        isinstance(q, dict)
        and isinstance(q.get("sql"), str)
        and q["sql"]
        and isinstance(q.get("params", []), list)
        for q in queries
    ):
        return None
    for key in ("durable_object_id", "durable_object_name"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return key
    return None


def _read_only(db: ObjectDatabase, queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``queries`` on ``db`` with writes refused, under the rules of the object's own
    SQL (its authorizer: no ``_cf_`` tables, D1's PRAGMAs)."""
    results = []
    db.trusted("PRAGMA query_only = ON")
    try:
        for item in queries:
            try:
                cursor = db.conn.execute(item["sql"], item.get("params") or [])
                rows = [list(row) for row in cursor.fetchall()]
            except (sqlite3.Error, OverflowError) as exc:
                db.guard.denial = None
                raise ApiError(400, 10001, str(exc)) from None
            columns = [d[0] for d in cursor.description] if cursor.description else []
            results.append(
                {
                    "columns": columns,
                    "rows": [[_json_value(v) for v in row] for row in rows],
                    "meta": {"rows_read": len(rows), "rows_written": 0},
                }
            )
    finally:
        db.trusted("PRAGMA query_only = OFF")
    return results


def _json_value(value: Any) -> Any:
    """A SQLite value as JSON can carry it (a BLOB as its list of bytes, as D1's API)."""
    return list(value) if isinstance(value, bytes) else value
