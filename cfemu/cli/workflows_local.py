"""``cfemu workflows ... --local [--port N]``: the same commands through a running
``cfemu dev``, as ``wrangler workflows ... --local`` reaches ``wrangler dev``.

They call the dev server's Local Explorer API (``http://localhost:<port>/cdn-cgi/local/
explorer/api/workflows/...``), so a triggered instance starts at once, and a pause or an
event reaches the live instance, while ``cfemu dev`` holds the state folder.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Final

from cfemu.cli.workflows_render import describe_text, emojify_status, labelled, warn
from cfemu.errors import CfemuError

__all__ = ["LOCAL_COMMANDS", "run_local"]

_BASE: Final = "/cdn-cgi/local/explorer/api"
_TIMEOUT_SECONDS: Final = 30.0


def _fetch(port: int, path: str, method: str = "GET", body: Any = None) -> Any:
    """The ``result`` of one Local Explorer API call (wrangler's errors when it fails)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://localhost:{port}{_BASE}{path}",
        data=data,
        method=method,
        headers={"content-type": "application/json"} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
            found = json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["errors"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            message = f"HTTP {exc.code}"
        raise CfemuError(f"Local API error: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CfemuError(
            f"Could not connect to local dev session on port {port}. Make sure "
            f'"cfemu dev" is running.\n  {reason}'
        ) from None
    if not isinstance(found, dict) or not found.get("success"):
        errors = found.get("errors") if isinstance(found, dict) else None
        message = errors[0]["message"] if errors else "Unknown local API error"
        raise CfemuError(f"Local API error: {message}")
    return found["result"]


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _instances(args: argparse.Namespace, query: str = "") -> list[dict[str, Any]]:
    found = _fetch(args.port, f"/workflows/{_quote(args.name)}/instances{query}")
    return list(found)


def _latest(args: argparse.Namespace) -> str:
    if args.id != "latest":
        return str(args.id)
    rows = _instances(args, "?per_page=100")
    if not rows:
        raise CfemuError(f'There are no instances in workflow "{args.name}"')
    return str(max(rows, key=lambda r: r.get("created_on") or "")["id"])


def _list(args: argparse.Namespace) -> int:
    from cfemu.cli.d1 import _table

    rows = _fetch(args.port, "/workflows")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        warn("There are no Workflows in the local dev session")
        return 0
    print(f"Showing {len(rows)} workflow{'s' if len(rows) > 1 else ''} from local dev session:")
    table = [[r["name"], r["script_name"], r["class_name"]] for r in rows]
    print(_table(["Name", "Script name", "Class name"], table))
    return 0


def _describe(args: argparse.Namespace) -> int:
    found = _fetch(args.port, f"/workflows/{_quote(args.name)}")
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    head = {
        "Name": found["name"],
        "Script Name": found["script_name"],
        "Class Name": found["class_name"],
    }
    print(labelled(head))
    print("Instance Status Counts:")
    print(labelled({k: str(v) for k, v in found.get("instances", {}).items()}, indent=2))
    return 0


def _instances_list(args: argparse.Namespace) -> int:
    from cfemu.cli.d1 import _table
    from cfemu.cli.workflows_render import local_time

    params = {"page": str(args.page)}
    if args.per_page:
        params["per_page"] = str(args.per_page)
    if args.status:
        params["status"] = args.status
    rows = _instances(args, "?" + urllib.parse.urlencode(params))
    rows.sort(key=lambda r: r.get("created_on") or "", reverse=not args.reverse)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        warn(
            f"No instances found on page {args.page}. Please try a smaller page number."
            if args.page > 1
            else f'There are no instances in workflow "{args.name}". You can trigger it '
            f'with "cfemu workflows trigger {args.name} --local"'
        )
        return 0
    print(f"Showing {len(rows)} instance{'s' if len(rows) > 1 else ''} from page {args.page}:")

    def created(row: dict[str, Any]) -> str:
        from datetime import datetime

        stamp = row.get("created_on")
        if not stamp:
            return "N/A"
        return local_time(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)

    table = [[r["id"], created(r), emojify_status(r.get("status", ""))] for r in rows]
    print(_table(["Instance ID", "Created", "Status"], table))
    return 0


def _instances_describe(args: argparse.Namespace) -> int:
    from cfemu.clock import RealClock

    instance_id = _latest(args)
    found = _fetch(args.port, f"/workflows/{_quote(args.name)}/instances/{_quote(instance_id)}")
    if args.json:
        print(json.dumps({"id": instance_id, **found}, indent=2, ensure_ascii=False))
        return 0
    text = describe_text(
        args.name,
        instance_id,
        found,
        step_output=args.step_output,
        limit=args.truncate_output_limit,
        now_ms=RealClock().now_ms(),
    )
    print(text)
    return 0


def _trigger(args: argparse.Namespace) -> int:
    params = None
    if args.params:
        try:
            params = json.loads(args.params)
        except ValueError as exc:
            raise CfemuError(
                f'Error while parsing instance parameters: "{args.params}" with {exc}'
            ) from None
    body = {"id": args.id, "params": params}
    found = _fetch(args.port, f"/workflows/{_quote(args.name)}/instances", "POST", body)
    if args.json:
        print(json.dumps(found))
        return 0
    print(f'🚀 Workflow instance "{found["id"]}" has been triggered successfully')
    return 0


def _change_status(args: argparse.Namespace) -> int:
    from cfemu.cli.workflows_write import DONE, restart_from

    instance_id = _latest(args)
    body: dict[str, Any] = {"action": args.verb}
    start = restart_from(args) if args.verb == "restart" else None
    if start is not None:
        kinds = {"do": "do", "sleep": "sleep", "deadline": "waitForEvent"}
        body["from"] = {"name": start[1], "count": start[2], "type": kinds[start[0]]}
    path = f"/workflows/{_quote(args.name)}/instances/{_quote(instance_id)}/status"
    _fetch(args.port, path, "PATCH", body)
    print(DONE[args.verb].format(id=instance_id, name=args.name))
    return 0


def _send_event(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        raise CfemuError(
            f'Error while parsing event payload: "{args.payload}" with {exc}'
        ) from None
    instance_id = _latest(args)
    path = (
        f"/workflows/{_quote(args.name)}/instances/{_quote(instance_id)}/events/{_quote(args.type)}"
    )
    _fetch(args.port, path, "POST", payload)
    shown = f' and payload "{args.payload}"' if payload not in ({}, None) else ""
    print(
        f'📤 The event with type "{args.type}"{shown} was sent to the instance '
        f'"{instance_id}" from {args.name}'
    )
    return 0


#: Each command's handler through a running ``cfemu dev``, by the state handler's name.
LOCAL_COMMANDS: Final = {
    "_list": _list,
    "_describe_workflow": _describe,
    "_instances_list": _instances_list,
    "_instances_describe": _instances_describe,
    "trigger": _trigger,
    "change_status": _change_status,
    "send_event": _send_event,
}


def run_local(args: argparse.Namespace, handler_name: str) -> int:
    """Run the command through the dev server on ``--port``."""
    local = LOCAL_COMMANDS.get(handler_name)
    if local is None:
        raise CfemuError(
            "this command works on the state folder only: stop cfemu dev and run it without --local"
        )
    return local(args)
