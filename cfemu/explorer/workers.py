"""``GET /local/workers`` in the Local Explorer API: each Worker with its resource bindings.

Cloudflare's local explorer answers ``[{isSelf, name, bindings: {kv, d1, r2, do,
workflows}}]`` (its UI's Worker selector); each binding names the resource by the id the
explorer's other routes take: ``kv`` and ``d1`` ``{id, bindingName}``, ``do`` ``{id:
"<script>-<Class>", bindingName, className, scriptName, useSqlite}``, ``workflows`` ``{id:
<workflow name>, bindingName, className, scriptName}``. Every Worker of a cfemu emulator is
this instance's (``isSelf``: true); cfemu has no R2, so ``r2`` is always empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cfemu.api._http import ApiRequest, ApiResponse, Router, ok

if TYPE_CHECKING:
    from cfemu.config.models import WorkerConfig
    from cfemu.emulator import Emulator

__all__ = ["add_routes", "worker_bindings"]


def worker_bindings(config: WorkerConfig, emulator: Emulator) -> dict[str, list[dict[str, Any]]]:
    """The resource bindings of one Worker, as Cloudflare's explorer lists them (a D1
    database by the ``uuid`` ``GET /d1/database`` gives it)."""
    from cfemu.d1.service import D1Service

    d1_ids = {info.storage_key: info.uuid for info in emulator.service(D1Service).catalogue()}
    services: dict[str, Any] = dict(emulator.services)
    do_service = services.get("durable_objects")
    runtimes: dict[str, Any] = {} if do_service is None else dict(do_service.runtimes)
    found: dict[str, list[dict[str, Any]]] = {
        "kv": [],
        "d1": [],
        "r2": [],
        "do": [],
        "workflows": [],
    }
    for kv in config.kv_namespaces:
        found["kv"].append({"id": kv.storage_key, "bindingName": kv.binding})
    for db in config.d1_databases:
        found["d1"].append(
            {"id": d1_ids.get(db.storage_key, db.storage_key), "bindingName": db.binding}
        )
    for binding in config.durable_object_bindings:
        script = binding.script_name or config.name
        label = f"{script}-{binding.class_name}"
        runtime = runtimes.get(label)
        found["do"].append(
            {
                "id": label,
                "bindingName": binding.name,
                "className": binding.class_name,
                "scriptName": script,
                "useSqlite": bool(runtime is not None and runtime.sql_enabled),
            }
        )
    for workflow in config.workflows:
        found["workflows"].append(
            {
                "id": workflow.name,
                "bindingName": workflow.binding,
                "className": workflow.class_name,
                "scriptName": workflow.script_name or config.name,
            }
        )
    return found


def add_routes(router: Router, emulator: Emulator) -> None:
    """Route ``GET /local/workers`` to the emulator's Workers."""

    async def list_workers(request: ApiRequest) -> ApiResponse:
        result = [
            {"isSelf": True, "name": config.name, "bindings": worker_bindings(config, emulator)}
            for config in emulator.configs
        ]
        return ok(result)

    router.add("GET", "/local/workers", list_workers)
