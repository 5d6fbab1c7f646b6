"""Workflows in the Local Explorer API: Cloudflare's local explorer routes (spec §7).

- ``GET /workflows``: ``[{name, class_name, script_name}]``.
- ``GET /workflows/{name}``: the same with ``instances``: a count per status.
- ``GET /workflows/{name}/instances?page=&per_page=&status=``: ``[{id, status,
  created_on}]``, newest first, ``result_info: {page, per_page, total_count, total_pages,
  status_counts}``.
- ``GET /workflows/{name}/instances/{id}``: ``{status, params, queued, start, end, output,
  error, steps, step_count}`` (each ``step.do`` with its attempts, each sleep, each
  ``wait_for_event``), read from the Workflows store (:mod:`cfemu.workflows.history`).
- ``POST /workflows/{name}/instances`` ``{id?, params?}``: ``{id}``;
  ``PATCH /workflows/{name}/instances/{id}/status`` ``{action, from?}``: ``{success}``;
  ``POST /workflows/{name}/instances/{id}/events/{type}`` (the body is the payload).
- ``DELETE /workflows/{name}``: every instance deleted, ``{status: "ok", success: true}``;
  ``DELETE /workflows/{name}/instances/{id}``: ``{success: true}``;
  ``POST /workflows/{name}/instances/batch/delete`` ``{instances: [id, ...]}`` (1 to 100):
  the binding's ``deleteBatch`` answer, ``{deleted: [{id}], errors: [{id, code, message}]}``.

Reads never wake an instance; writes go through the Workflow binding, as a Worker's would.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Final

from cfemu.api._http import ApiError, ApiRequest, ApiResponse, Router, ok
from cfemu.explorer.checks import (
    MISSING,
    Issues,
    json_body,
    query_enum,
    query_number,
    raise_issues,
)
from cfemu.limits import WORKFLOW_MAX_DELETE_BATCH

if TYPE_CHECKING:
    from cfemu.workflows.engine import WorkflowRuntime
    from cfemu.workflows.service import WorkflowsService

__all__ = ["STATUSES", "add_routes", "batch_delete_issues", "status_change_issues"]

#: Every instance status, in the order Cloudflare's explorer counts them.
STATUSES: Final = (
    "queued",
    "running",
    "paused",
    "errored",
    "terminated",
    "complete",
    "waitingForPause",
    "waiting",
)
_ACTIONS: Final = ("pause", "resume", "restart", "terminate")
_STEP_TYPES: Final = ("do", "sleep", "waitForEvent")
#: What Cloudflare's explorer accepts as an id to batch-delete (its OpenAPI schema).
_BATCH_ID: Final = re.compile(r"[a-zA-Z0-9, */#_-]+")
_BATCH_ID_MAX: Final = 271


def batch_delete_issues(body: Any) -> Issues:
    """What is wrong with a batch-delete body (``{instances: [id, ...]}``, 1 to 100 ids of
    at most 271 characters), worded as Cloudflare's explorer words it; empty when valid."""
    issues = Issues()
    instances = issues.array_field(body, "instances")
    if instances is None:
        return issues
    for index, item in enumerate(instances):
        where = f"instances.{index}"
        if not isinstance(item, str):
            issues.type(where, "string", item)
            continue
        issues.size(where, "string", len(item), low=1, high=_BATCH_ID_MAX, unit="characters")
        if _BATCH_ID.fullmatch(item) is None:
            issues.add(where, "Invalid string: must match pattern /^[a-zA-Z0-9, *\\/#_-]+$/")
    issues.size(
        "instances", "array", len(instances), low=1, high=WORKFLOW_MAX_DELETE_BATCH, unit="items"
    )
    return issues


def status_change_issues(body: Any) -> Issues:
    """What is wrong with a status change (``{action, from?: {name, count?, type?},
    rollback?}``), worded as Cloudflare's explorer words it; empty when valid."""
    issues = Issues()
    if not isinstance(body, dict):
        issues.type("", "object", body)
        return issues
    if body.get("action", MISSING) not in _ACTIONS:
        issues.option("action", _ACTIONS)
    start = body.get("from", MISSING)
    if start is not MISSING:
        if not isinstance(start, dict):
            issues.type("from", "object", start)
        else:
            if not isinstance(start.get("name", MISSING), str):
                issues.type("from.name", "string", start.get("name", MISSING))
            count = start.get("count", MISSING)
            if count is not MISSING:
                whole = isinstance(count, int | float) and not isinstance(count, bool)
                if not whole or not float(count).is_integer():
                    issues.type("from.count", "int", count)
                else:
                    issues.size("from.count", "number", count, low=1, high=None)
            kind = start.get("type", MISSING)
            if kind is not MISSING and kind not in _STEP_TYPES:
                issues.option("from.type", _STEP_TYPES)
    rollback = body.get("rollback", MISSING)
    if rollback is not MISSING and not isinstance(rollback, bool):
        issues.type("rollback", "boolean", rollback)
    return issues


def add_routes(router: Router, service: WorkflowsService | None) -> None:
    """Route the explorer's ``/workflows`` endpoints to ``service`` (``None``: none)."""

    def runtimes() -> dict[str, WorkflowRuntime]:
        return {} if service is None else dict(service.runtimes)

    def workflow(request: ApiRequest) -> WorkflowRuntime:
        name = request.params["workflow_name"]
        found = runtimes().get(name)
        if found is None:
            raise ApiError(404, 10501, f"Workflow '{name}' not found.")
        return found

    def summary(runtime: WorkflowRuntime) -> dict[str, Any]:
        return {
            "name": runtime.name,
            "class_name": runtime.class_name,
            "script_name": runtime.script,
        }

    def counts(runtime: WorkflowRuntime) -> dict[str, int]:
        found = dict.fromkeys(STATUSES, 0)
        for row in runtime.store.instances(runtime.name):
            found[row.status] = found.get(row.status, 0) + 1
        return found

    async def list_workflows(request: ApiRequest) -> ApiResponse:
        result = [summary(rt) for _, rt in sorted(runtimes().items())]
        return ok(result, {"count": len(result)})

    async def get_workflow(request: ApiRequest) -> ApiResponse:
        runtime = workflow(request)
        return ok({**summary(runtime), "instances": counts(runtime)})

    async def list_instances(request: ApiRequest) -> ApiResponse:
        from cfemu.workflows.history import iso_ms

        issues = Issues()
        page = query_number(request, issues, "page", 1, low=1)
        per_page = query_number(request, issues, "per_page", 25, low=1, high=100)
        wanted = query_enum(request, issues, "status", STATUSES)
        raise_issues(issues)  # checked before the Workflow is looked up, as there
        runtime = workflow(request)
        rows = list(reversed(runtime.store.instances(runtime.name)))  # newest first
        chosen = [row for row in rows if wanted is None or row.status == wanted]
        shown = chosen[(page - 1) * per_page : page * per_page]
        result = [
            {"id": row.id, "status": row.status, "created_on": iso_ms(row.created_ms)}
            for row in shown
        ]
        status_counts = dict.fromkeys(STATUSES, 0)
        for row in rows:
            status_counts[row.status] = status_counts.get(row.status, 0) + 1
        info = {
            "page": page,
            "per_page": per_page,
            "total_count": len(chosen),
            "total_pages": max(1, math.ceil(len(chosen) / per_page)),
            "status_counts": status_counts,
        }
        return ok(result, info)

    def not_found(request: ApiRequest) -> ApiError:
        return ApiError(
            404, 10501, f"Workflow instance '{request.params['instance_id']}' not found."
        )

    async def get_instance(request: ApiRequest) -> ApiResponse:
        from cfemu.workflows.history import describe_instance

        runtime = workflow(request)
        try:
            found = describe_instance(
                runtime.store,
                runtime.name,
                request.params["instance_id"],
                now_ms=runtime.clock.now_ms(),
            )
        except KeyError:
            raise not_found(request) from None
        found.setdefault("output", None)
        for step in found["steps"]:  # the fields Cloudflare's explorer gives each kind
            if step["type"] == "step":
                step.setdefault("config", None)  # not recorded by cfemu's store
            else:
                step.setdefault("error", None)
            if step["type"] == "waitForEvent":
                step.setdefault("output", None)
        found["step_count"] = len(found["steps"])
        return ok(found)

    async def calling(request: ApiRequest, call: Any) -> None:
        from cfemu.workflows.errors import WorkflowError

        try:
            await call
        except WorkflowError as exc:
            if str(exc) == "instance.not_found":
                raise not_found(request) from None
            raise ApiError(500, 10001, str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise ApiError(500, 10001, str(exc)) from None

    async def create_instance(request: ApiRequest) -> ApiResponse:
        from cfemu.workflows.binding import Workflow
        from cfemu.workflows.errors import WorkflowError

        runtime = workflow(request)
        body = request.json() if request.body.strip() else {}
        body = body if isinstance(body, dict) else {}
        options = {k: body[k] for k in ("id", "params") if body.get(k) is not None}
        try:
            instance = await Workflow(runtime).create(options)
        except (WorkflowError, TypeError, ValueError) as exc:
            raise ApiError(500, 10001, str(exc)) from None
        return ok({"id": instance.id})

    async def change_status(request: ApiRequest) -> ApiResponse:
        from cfemu.workflows.binding import WorkflowInstance

        body = json_body(request)
        raise_issues(status_change_issues(body))  # before the Workflow is looked up, as there
        runtime = workflow(request)
        action = body["action"]
        if "rollback" in body and action != "terminate":
            raise ApiError(400, 10001, "'rollback' is only valid when terminating.")
        instance_id = request.params["instance_id"]
        if runtime.store.instance(runtime.name, instance_id) is None:
            raise not_found(request)
        handle = WorkflowInstance(runtime, instance_id)
        start = body.get("from")
        if action == "restart" and start is not None:
            if not start["name"]:
                raise ApiError(
                    400, 10001, "'from.name' is required when restarting from a specific step."
                )
            await calling(request, handle.restart({"from": start}))
        elif action == "restart":
            await calling(request, handle.restart())
        elif action == "terminate" and body.get("rollback") is True:
            await calling(request, handle.terminate({"rollback": True}))
        else:
            await calling(request, getattr(handle, action)())
        return ok({"success": True})

    async def send_event(request: ApiRequest) -> ApiResponse:
        from cfemu.workflows.binding import WorkflowInstance

        runtime = workflow(request)
        instance_id = request.params["instance_id"]
        if runtime.store.instance(runtime.name, instance_id) is None:
            raise not_found(request)
        payload = request.json() if request.body.strip() else None
        handle = WorkflowInstance(runtime, instance_id)
        await calling(request, handle.sendEvent(type=request.params["event_type"], payload=payload))
        return ok({"success": True})

    async def delete_workflow(request: ApiRequest) -> ApiResponse:
        from cfemu.workflows.errors import WorkflowError

        runtime = workflow(request)
        for row in runtime.store.instances(runtime.name):
            try:
                runtime.delete(row.id)
            except WorkflowError:  # gone meanwhile
                continue
        return ok({"status": "ok", "success": True})

    async def delete_instance(request: ApiRequest) -> ApiResponse:
        from cfemu.workflows.errors import WorkflowError

        runtime = workflow(request)
        try:
            runtime.delete(request.params["instance_id"])
        except WorkflowError:
            raise not_found(request) from None
        return ok({"success": True})

    async def batch_delete(request: ApiRequest) -> ApiResponse:
        from cfemu.workflows.binding import Workflow
        from cfemu.workflows.errors import WorkflowError

        body = json_body(request)
        raise_issues(batch_delete_issues(body))  # before the Workflow is looked up, as there
        runtime = workflow(request)
        try:
            answer = await Workflow(runtime).deleteBatch(body["instances"])
        except WorkflowError as exc:
            raise ApiError(500, 10001, str(exc)) from None
        return ok(answer)

    base = "/workflows/{workflow_name}"
    router.add("GET", "/workflows", list_workflows)
    router.add("GET", base, get_workflow)
    router.add("DELETE", base, delete_workflow)
    router.add("GET", base + "/instances", list_instances)
    router.add("POST", base + "/instances", create_instance)
    router.add("POST", base + "/instances/batch/delete", batch_delete)
    router.add("GET", base + "/instances/{instance_id}", get_instance)
    router.add("DELETE", base + "/instances/{instance_id}", delete_instance)
    router.add("PATCH", base + "/instances/{instance_id}/status", change_status)
    router.add("POST", base + "/instances/{instance_id}/events/{event_type}", send_event)
