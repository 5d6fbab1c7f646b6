"""Workers KV in the Local Explorer API: Cloudflare's local explorer routes (spec §7).

- ``GET /storage/kv/namespaces?order=id|title&direction=asc|desc``: ``[{id, title}]``
  (``id`` is the config's namespace ``id``, else the binding name; ``title`` the binding).
- ``GET /storage/kv/namespaces/{id}/keys?limit=&prefix=&cursor=``: ``[{name, expiration?,
  metadata?}]``, ``result_info: {count, cursor}`` (``cursor`` is ``""`` on the last page).
- ``GET|PUT|DELETE /storage/kv/namespaces/{id}/values/{key}``: ``GET`` answers the raw value
  (no envelope); ``PUT`` takes the raw value, or ``multipart/form-data`` with ``value`` and
  ``metadata`` (JSON); ``PUT`` and ``DELETE`` answer ``result: {}``.
- ``POST /storage/kv/namespaces/{id}/bulk/get`` ``{keys}``: ``{values: {key: value|null}}``.

cfemu adds, from Cloudflare's REST API: ``PUT ...?expiration=`` (epoch seconds) and
``?expiration_ttl=`` (seconds), and ``GET /storage/kv/namespaces/{id}/metadata/{key}``.
Every call goes through the namespace's KV binding, so KV's checks, limits and wording
apply; a refused call answers the KV service's status with code 10001 and KV's message
(cfemu's choice: Cloudflare's explorer lets the binding's error escape as a 500).
"""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

import orjson

from cfemu.api._http import ApiError, ApiRequest, ApiResponse, Router, ok
from cfemu.errors import KvError
from cfemu.explorer.checks import Issues, json_body, query_enum, query_number, raise_issues

if TYPE_CHECKING:
    from cfemu.kv.namespace import KvNamespace
    from cfemu.kv.service import KvService

__all__ = ["add_routes", "namespaces_of"]


def namespaces_of(service: KvService | None) -> dict[str, tuple[str, Any]]:
    """``{namespace id: (title, config entry)}`` of every configured namespace (first
    binding wins the title)."""
    found: dict[str, tuple[str, Any]] = {}
    if service is None:
        return found
    for config in service.ctx.configs:
        for entry in config.kv_namespaces:
            found.setdefault(entry.storage_key, (entry.binding, entry))
    return found


def _multipart(request: ApiRequest, content_type: str) -> tuple[bytes, Any]:
    """The ``value`` and parsed ``metadata`` fields of a ``multipart/form-data`` body."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    value: bytes | None = None
    metadata: Any = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "value":
            value = data
        elif name == "metadata":
            try:
                metadata = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise ApiError(400, 10001, "Invalid metadata JSON") from None
    if value is None:
        raise ApiError(400, 10001, "Missing value field")
    return value, metadata


def _collation_key(text: str) -> tuple[str, str]:
    """Sort text about as JavaScript's ``localeCompare`` does: letters before case, and a
    lowercase letter before its capital."""
    return text.casefold(), text.swapcase()


def _bulk_get_issues(body: Any) -> Issues:
    """What is wrong with a bulk get body (``{keys: [...]}``: at most 100 names of at most
    512 characters), worded as Cloudflare's explorer words it."""
    issues = Issues()
    keys = issues.array_field(body, "keys")
    if keys is None:
        return issues
    for index, key in enumerate(keys):
        if not isinstance(key, str):
            issues.type(f"keys.{index}", "string", key)
        else:
            issues.size(f"keys.{index}", "string", len(key), low=None, high=512, unit="characters")
    issues.size("keys", "array", len(keys), low=None, high=100, unit="items")
    return issues


def add_routes(router: Router, service: KvService | None) -> None:
    """Route the explorer's ``/storage/kv`` endpoints to ``service`` (``None``: no KV)."""

    def binding(request: ApiRequest, action: str) -> KvNamespace:
        ident = request.params["namespace_id"]
        found = namespaces_of(service).get(ident)
        if found is None or service is None:
            raise ApiError(404, 10013, f"{action}: 'namespace not found'")
        title, entry = found
        from cfemu.kv.namespace import KvNamespace

        ctx = service.ctx
        return KvNamespace(service.store(entry), clock=ctx.clock, binding=title, faults=ctx.faults)

    async def calling(awaitable: Any) -> Any:
        try:
            return await awaitable
        except KvError as exc:
            raise ApiError(exc.status or 400, 10001, str(exc)) from None

    async def list_namespaces(request: ApiRequest) -> ApiResponse:
        issues = Issues()
        order = query_enum(request, issues, "order", ("id", "title")) or "id"
        direction = query_enum(request, issues, "direction", ("asc", "desc")) or "asc"
        raise_issues(issues)
        result = [
            {"id": ident, "title": title} for ident, (title, _) in namespaces_of(service).items()
        ]
        result.sort(key=lambda ns: _collation_key(ns[order]), reverse=direction == "desc")
        return ok(result, {"count": len(result)})

    async def list_keys(request: ApiRequest) -> ApiResponse:
        issues = Issues()
        limit = query_number(request, issues, "limit", 1000, low=10, high=1000)
        raise_issues(issues)  # checked before the namespace is looked up, as there
        kv = binding(request, "list keys")
        options: dict[str, Any] = {"limit": limit}
        for name in ("prefix", "cursor"):
            value = request.query_value(name)
            if value:
                options[name] = value
        listed = await calling(kv.list(options))
        keys = [dict(key) for key in listed["keys"]]
        return ok(keys, {"count": len(keys), "cursor": listed.get("cursor") or ""})

    async def get_value(request: ApiRequest) -> ApiResponse:
        kv = binding(request, "get")
        value = await calling(kv.get(request.params["key_name"], "arrayBuffer"))
        if value is None:
            raise ApiError(404, 10009, "get: 'key not found'")
        return ApiResponse(
            200, bytes(value), {"content-type": "application/octet-stream"}, raw=True
        )

    async def get_metadata(request: ApiRequest) -> ApiResponse:
        kv = binding(request, "get")
        found = await calling(kv.getWithMetadata(request.params["key_name"], "arrayBuffer"))
        if found["value"] is None:
            raise ApiError(404, 10009, "get: 'key not found'")
        return ok(found["metadata"])

    async def put_value(request: ApiRequest) -> ApiResponse:
        kv = binding(request, "put")
        content_type = request.headers.get("content-type", "")
        metadata: Any = None
        if "multipart/form-data" in content_type:
            value, metadata = _multipart(request, content_type)
        else:
            value = request.body
        options: dict[str, Any] = {}
        if metadata is not None:
            options["metadata"] = metadata
        for query, option in (("expiration", "expiration"), ("expiration_ttl", "expirationTtl")):
            raw = request.query_value(query)
            if raw is not None:
                try:
                    options[option] = int(raw)
                except ValueError:
                    raise ApiError(
                        400, 10001, f"{query}: expected an integer, got {raw!r}"
                    ) from None
        await calling(kv.put(request.params["key_name"], value, options))
        return ok({})

    async def delete_value(request: ApiRequest) -> ApiResponse:
        kv = binding(request, "remove key")
        await calling(kv.delete(request.params["key_name"]))
        return ok({})

    async def bulk_get(request: ApiRequest) -> ApiResponse:
        body = json_body(request)
        raise_issues(_bulk_get_issues(body))  # before the namespace is looked up, as there
        kv = binding(request, "bulk get keys")
        keys = body["keys"]
        values = await calling(kv.get(keys))
        return ok({"values": {key: values.get(key) for key in keys}})

    base = "/storage/kv/namespaces"
    router.add("GET", base, list_namespaces)
    router.add("GET", base + "/{namespace_id}/keys", list_keys)
    router.add("GET", base + "/{namespace_id}/values/{key_name:path}", get_value)
    router.add("PUT", base + "/{namespace_id}/values/{key_name:path}", put_value)
    router.add("DELETE", base + "/{namespace_id}/values/{key_name:path}", delete_value)
    router.add("GET", base + "/{namespace_id}/metadata/{key_name:path}", get_metadata)
    router.add("POST", base + "/{namespace_id}/bulk/get", bulk_get)
