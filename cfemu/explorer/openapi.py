"""The OpenAPI 3 document ``GET <prefix>/api`` returns: every route of the explorer's API.

The routes Cloudflare's local explorer has keep its paths, path and query parameter names,
limits and operationIds; cfemu's own routes are described in the same style."""

from __future__ import annotations

import re
from typing import Any, Final

from cfemu.explorer.workflows import STATUSES

__all__ = ["CLOUDFLARE_OPERATIONS", "QUERY_PARAMETERS", "ROUTES", "openapi_document"]


#: (method, path, tag, summary) of every route, in the document's order.
ROUTES: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("GET", "/d1/database", "D1", "List D1 databases ({uuid, name, version}); ?name= filters"),
    ("POST", "/d1/database/{database_id}/raw", "D1", "Run {sql, params?} or {batch: [...]}"),
    ("GET", "/d1/database/{database_id}/tables", "D1", "Tables and views: schema, row counts"),
    (
        "GET",
        "/d1/database/{database_id}/tables/{table}/rows",
        "D1",
        "One page of a table's rows (?page=&per_page=) with the total count",
    ),
    ("GET", "/d1/database/{database_id}/migrations", "D1", "Applied and pending migrations"),
    ("GET", "/d1/database/{database_id}/export", "D1", "The database as an SQL dump (download)"),
    ("GET", "/storage/kv/namespaces", "KV", "List KV namespaces ({id, title}); ?order=&direction="),
    (
        "GET",
        "/storage/kv/namespaces/{namespace_id}/keys",
        "KV",
        "List keys (?limit=&prefix=&cursor=)",
    ),
    ("GET", "/storage/kv/namespaces/{namespace_id}/values/{key_name}", "KV", "A value, raw"),
    (
        "PUT",
        "/storage/kv/namespaces/{namespace_id}/values/{key_name}",
        "KV",
        "Write a value: raw body or multipart value + metadata; ?expiration=&expiration_ttl=",
    ),
    ("DELETE", "/storage/kv/namespaces/{namespace_id}/values/{key_name}", "KV", "Delete a key"),
    ("GET", "/storage/kv/namespaces/{namespace_id}/metadata/{key_name}", "KV", "A key's metadata"),
    ("POST", "/storage/kv/namespaces/{namespace_id}/bulk/get", "KV", "Values of {keys: [...]}"),
    ("GET", "/workers/durable_objects/namespaces", "Durable Objects", "List namespaces"),
    (
        "GET",
        "/workers/durable_objects/namespaces/{id}/objects",
        "Durable Objects",
        "Objects with stored data (?limit=&cursor=)",
    ),
    (
        "GET",
        "/workers/durable_objects/namespaces/{namespace_id}/objects/{object_id}",
        "Durable Objects",
        "An object's tables, key-value count, size and alarm",
    ),
    (
        "GET",
        "/workers/durable_objects/namespaces/{namespace_id}/objects/{object_id}/kv",
        "Durable Objects",
        "An object's key-value pairs (?limit=&cursor=)",
    ),
    (
        "POST",
        "/workers/durable_objects/namespaces/{namespace_id}/query",
        "Durable Objects",
        "Read-only SQL on an object {durable_object_id | durable_object_name, queries}",
    ),
    ("GET", "/workflows", "Workflows", "List Workflows ({name, class_name, script_name})"),
    ("GET", "/workflows/{workflow_name}", "Workflows", "A Workflow with its instance counts"),
    ("DELETE", "/workflows/{workflow_name}", "Workflows", "Delete every instance of a Workflow"),
    (
        "GET",
        "/workflows/{workflow_name}/instances",
        "Workflows",
        "Instances, newest first (?page=&per_page=&status=)",
    ),
    ("POST", "/workflows/{workflow_name}/instances", "Workflows", "Create an instance"),
    (
        "POST",
        "/workflows/{workflow_name}/instances/batch/delete",
        "Workflows",
        "Delete instances {instances: [id, ...]} (1 to 100): {deleted, errors}",
    ),
    (
        "GET",
        "/workflows/{workflow_name}/instances/{instance_id}",
        "Workflows",
        "An instance's status, params, output, error and steps",
    ),
    (
        "DELETE",
        "/workflows/{workflow_name}/instances/{instance_id}",
        "Workflows",
        "Delete an instance with its history",
    ),
    (
        "PATCH",
        "/workflows/{workflow_name}/instances/{instance_id}/status",
        "Workflows",
        "pause, resume, restart or terminate an instance {action, from?}",
    ),
    (
        "POST",
        "/workflows/{workflow_name}/instances/{instance_id}/events/{event_type}",
        "Workflows",
        "Send an event (the body is its payload)",
    ),
    ("GET", "/local/workers", "Workers", "Each Worker with its resource bindings"),
    ("GET", "/queues", "Queues", "List queues with gauges, counters, consumers and DLQ"),
    ("GET", "/queues/{queue}", "Queues", "One queue, by name or queue id"),
    (
        "GET",
        "/queues/{queue}/messages",
        "Queues",
        "Peek a page of messages (?state=&page=&per_page=)",
    ),
    ("GET", "/queues/{queue}/rates", "Queues", "Backlog and counter rates over the last minutes"),
    ("POST", "/queues/{queue}/messages", "Queues", "Send a test message {body, content_type?}"),
    ("POST", "/queues/{queue}/purge", "Queues", "Delete every ready and delayed message"),
    ("POST", "/queues/{queue}/pause", "Queues", "Pause delivery (persisted)"),
    ("POST", "/queues/{queue}/resume", "Queues", "Resume delivery"),
    ("POST", "/queues/{queue}/redrive", "Queues", "Move a DLQ's messages {to?, message_ids?}"),
)

#: The operationId of each route Cloudflare's local explorer has: its own.
CLOUDFLARE_OPERATIONS: Final[dict[tuple[str, str], str]] = {
    ("GET", "/storage/kv/namespaces"): "workers-kv-namespace-list-namespaces",
    (
        "GET",
        "/storage/kv/namespaces/{namespace_id}/keys",
    ): "workers-kv-namespace-list-a-namespace'-s-keys",
    (
        "GET",
        "/storage/kv/namespaces/{namespace_id}/values/{key_name}",
    ): "workers-kv-namespace-read-key-value-pair",
    (
        "PUT",
        "/storage/kv/namespaces/{namespace_id}/values/{key_name}",
    ): "workers-kv-namespace-write-key-value-pair-with-metadata",
    (
        "DELETE",
        "/storage/kv/namespaces/{namespace_id}/values/{key_name}",
    ): "workers-kv-namespace-delete-key-value-pair",
    (
        "POST",
        "/storage/kv/namespaces/{namespace_id}/bulk/get",
    ): "workers-kv-namespace-get-multiple-key-value-pairs",
    ("GET", "/d1/database"): "d1-list-databases",
    ("POST", "/d1/database/{database_id}/raw"): "d1-raw-database-query",
    ("GET", "/workers/durable_objects/namespaces"): "durable-objects-namespace-list-namespaces",
    (
        "GET",
        "/workers/durable_objects/namespaces/{id}/objects",
    ): "durable-objects-namespace-list-objects",
    (
        "POST",
        "/workers/durable_objects/namespaces/{namespace_id}/query",
    ): "durable-objects-namespace-query-sqlite",
    ("GET", "/local/workers"): "local-explorer-list-workers",
    ("GET", "/workflows"): "workflows-list-workflows",
    ("GET", "/workflows/{workflow_name}"): "workflows-get-workflow-details",
    ("DELETE", "/workflows/{workflow_name}"): "workflows-delete-workflow",
    ("GET", "/workflows/{workflow_name}/instances"): "workflows-list-instances",
    ("POST", "/workflows/{workflow_name}/instances"): "workflows-create-instance",
    (
        "POST",
        "/workflows/{workflow_name}/instances/batch/delete",
    ): "workflows-batch-delete-instances",
    (
        "GET",
        "/workflows/{workflow_name}/instances/{instance_id}",
    ): "workflows-get-instance-details",
    (
        "DELETE",
        "/workflows/{workflow_name}/instances/{instance_id}",
    ): "workflows-delete-instance",
    (
        "PATCH",
        "/workflows/{workflow_name}/instances/{instance_id}/status",
    ): "workflows-change-instance-status",
    (
        "POST",
        "/workflows/{workflow_name}/instances/{instance_id}/events/{event_type}",
    ): "workflows-send-instance-event",
}


def _number(default: int, low: int, high: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number", "default": default, "minimum": low}
    if high is not None:
        schema["maximum"] = high
    return schema


_TEXT: Final = {"type": "string"}
#: The query parameters of the routes Cloudflare's local explorer has, with its limits.
QUERY_PARAMETERS: Final[dict[tuple[str, str], dict[str, dict[str, Any]]]] = {
    ("GET", "/storage/kv/namespaces"): {
        "order": {"type": "string", "enum": ["id", "title"]},
        "direction": {"type": "string", "enum": ["asc", "desc"]},
    },
    ("GET", "/storage/kv/namespaces/{namespace_id}/keys"): {
        "limit": _number(1000, 10, 1000),
        "prefix": _TEXT,
        "cursor": _TEXT,
    },
    ("GET", "/d1/database"): {"name": _TEXT},
    ("GET", "/workers/durable_objects/namespaces/{id}/objects"): {
        "limit": _number(1000, 10, 10_000),
        "cursor": _TEXT,
    },
    ("GET", "/workflows/{workflow_name}/instances"): {
        "page": _number(1, 1),
        "per_page": _number(25, 1, 100),
        "status": {"type": "string", "enum": list(STATUSES)},
    },
}

_ENVELOPE: Final = {
    "type": "object",
    "required": ["success", "errors", "messages", "result"],
    "properties": {
        "success": {"type": "boolean"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
            },
        },
        "messages": {"type": "array", "items": {"type": "object"}},
        "result": {},
        "result_info": {"type": "object"},
    },
}


_JSON: Final = {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}


def openapi_document(server_url: str) -> dict[str, Any]:
    """The OpenAPI 3 description of the API served at ``server_url``."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, tag, summary in ROUTES:
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"\{(\w+)\}", path)
        ]
        params += [
            {"name": name, "in": "query", "schema": schema}
            for name, schema in QUERY_PARAMETERS.get((method, path), {}).items()
        ]
        own = f"{method.lower()}_{re.sub(r'[^a-z]+', '_', path.lower()).strip('_')}"
        operation: dict[str, Any] = {
            "tags": [tag],
            "summary": summary,
            "operationId": CLOUDFLARE_OPERATIONS.get((method, path), own),
            "parameters": params,
            "responses": {
                "200": {
                    "description": "Success",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}
                    },
                },
                "default": {
                    "description": "Error (success false, errors[0] gives code and message)",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}
                    },
                },
            },
        }
        if method in ("POST", "PUT", "PATCH"):
            operation["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Local Explorer API",
            "version": "0.0.1",
            "description": "cfemu's Local Explorer API: D1, KV, Durable Objects and Workflows "
            "as Cloudflare's local explorer has them (with cfemu's own D1 views), and Queues "
            "(cfemu's own routes, in the shapes of Cloudflare's REST API).",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": {"Envelope": _ENVELOPE}},
    }
