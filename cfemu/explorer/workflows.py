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
from cfemu.limits import WORKFLOW_MAX_DELETE_BATCH

if TYPE_CHECKING:
    from cfemu.workflows.engine import WorkflowRuntime
    from cfemu.workflows.service import WorkflowsService

__all__ = ["STATUSES", "add_routes", "batch_delete_issues"]

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
#: What Cloudflare's explorer accepts as an id to batch-delete (its OpenAPI schema).
_BATCH_ID: Final = re.compile(r"[a-zA-Z0-9, */#_-]+")
_BATCH_ID_MAX: Final = 271


def batch_delete_issues(body: Any) -> list[str]:
    """What is wrong with a batch-delete body, worded as Cloudflare's explorer words its
    request validation (``<path>: <problem>``; zod's messages); ``[]`` when it is valid."""
    if not isinstance(body, dict):
        return [f"Invalid input: expected object, received {_js_type(body)}"]
    instances = body.get("instances")
    if not isinstance(instances, list):
        return [f"instances: Invalid input: expected array, received {_js_type(instances)}"]
    issues: list[str] = []
    for index, item in enumerate(instances):
        where = f"instances.{index}"
        if not isinstance(item, str):
            issues.append(f"{where}: Invalid input: expected string, received {_js_type(item)}")
            continue
        if len(item) < 1:
            issues.append(f"{where}: Too small: expected string to have >=1 characters")
        if len(item) > _BATCH_ID_MAX:
            issues.append(f"{where}: Too big: expected string to have <={_BATCH_ID_MAX} characters")
        if _BATCH_ID.fullmatch(item) is None:
            issues.append(f"{where}: Invalid string: must match pattern /^[a-zA-Z0-9, *\\/#_-]+$/")
    if not instances:
        issues.append("instances: Too small: expected array to have >=1 items")
    if len(instances) > WORKFLOW_MAX_DELETE_BATCH:
        issues.append(
            f"instances: Too big: expected array to have <={WORKFLOW_MAX_DELETE_BATCH} items"
        )
    return issues


def _js_type(value: object) -> str:
    """The type name zod reports for a JSON value."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


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

        runtime = workflow(request)
        page = request.query_int("page", 1, 1, 1_000_000_000)
        per_page = request.query_int("per_page", 25, 1, 100)
        wanted = request.query_value("status")
        if wanted is not None and wanted not in STATUSES:
            raise ApiError(400, 10001, f"status: expected one of {', '.join(STATUSES)}")
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

        runtime = workflow(request)
        body = request.json_object()
        action = body.get("action")
        if action not in _ACTIONS:
            raise ApiError(
                400,
                10001,
                f"Invalid action '{action}'. Must be one of: pause, resume, restart, terminate.",
            )
        instance_id = request.params["instance_id"]
        if runtime.store.instance(runtime.name, instance_id) is None:
            raise not_found(request)
        handle = WorkflowInstance(runtime, instance_id)
        if action == "restart" and body.get("from") is not None:
            start = body["from"]
            if not isinstance(start, dict) or not start.get("name"):
                raise ApiError(
                    400, 10001, "'from.name' is required when restarting from a specific step."
                )
            await calling(request, handle.restart({"from": start}))
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

        body = request.json()
        issues = batch_delete_issues(body)
        if issues:  # Cloudflare's explorer validates the body before it looks the Workflow up
            raise ApiError(400, 10001, "; ".join(issues))
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
