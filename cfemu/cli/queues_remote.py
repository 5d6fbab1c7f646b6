"""``--remote`` for ``cfemu queues list|info|purge|pause-delivery|resume-delivery``.

With ``--remote`` the verb runs against Cloudflare's REST API (``CLOUDFLARE_ACCOUNT_ID``,
``CLOUDFLARE_API_TOKEN``; ``CLOUDFLARE_API_BASE_URL`` moves it, e.g. to another ``cfemu
dev``) instead of the local state folder, as wrangler's verbs do by default.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from cfemu.cli._common import run_async
from cfemu.errors import CfemuError

__all__ = ["REMOTE_VERBS", "add_remote"]

Handler = Callable[[argparse.Namespace], int]
#: The verbs that take ``--remote``.
REMOTE_VERBS = ("list", "info", "purge", "pause-delivery", "resume-delivery")


def add_remote(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Give each of :data:`REMOTE_VERBS` a ``--remote`` flag routing it to the API."""
    for verb in REMOTE_VERBS:
        parser = commands.choices[verb]
        parser.add_argument(
            "--remote",
            action="store_true",
            help="on Cloudflare, through its REST API (CLOUDFLARE_ACCOUNT_ID, "
            "CLOUDFLARE_API_TOKEN, CLOUDFLARE_API_BASE_URL)",
        )
        parser.set_defaults(handler=_either(parser.get_default("handler"), verb))


def _either(local: Handler, verb: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        if not args.remote:
            return local(args)
        return run_async(_remote(verb, args))

    return handler


async def _remote(verb: str, args: argparse.Namespace) -> int:
    from cfemu.remote.client import RemoteApiError, remote_api_from_env

    api = remote_api_from_env(f"`cfemu queues {verb} --remote` runs on Cloudflare")
    try:
        if verb == "list":
            queues = await api.call("GET", "/queues") or []
            return _print_list(queues, args)
        found = await api.call("GET", "/queues", params={"name": args.queue}) or []
        matches = [q for q in found if q.get("queue_name") == args.queue]
        if not matches:
            raise CfemuError(f'Queue "{args.queue}" does not exist on {api.base_url}')
        queue = matches[0]
        path = f"/queues/{queue['queue_id']}"
        if verb == "info":
            metrics = await api.call("GET", f"{path}/metrics")
            return _print_info(queue, metrics, args)
        if verb == "purge":
            if not args.yes and not _confirm(f"Purge every message of queue {args.queue}? [y/N] "):
                print("Not purged.")
                return 1
            await api.call("POST", f"{path}/purge", {"delete_messages_permanently": True})
            print(f"Purged queue {args.queue}.")
            return 0
        paused = verb == "pause-delivery"
        await api.call(
            "PATCH", path, {"queue_name": args.queue, "settings": {"delivery_paused": paused}}
        )
        print(f"{'Paused' if paused else 'Resumed'} message delivery for queue {args.queue}.")
        return 0
    except RemoteApiError as exc:
        raise CfemuError(f"Cloudflare's API refused: {exc}") from None
    finally:
        await api.aclose()


def _print_list(queues: list[dict[str, Any]], args: argparse.Namespace) -> int:
    if getattr(args, "json", False):
        print(json.dumps(queues, indent=2))
        return 0
    rows = [
        [
            q.get("queue_name", ""),
            q.get("queue_id", ""),
            str(q.get("producers_total_count", 0)),
            str(q.get("consumers_total_count", 0)),
            "paused" if (q.get("settings") or {}).get("delivery_paused") else "active",
        ]
        for q in queues
    ]
    header = ["Name", "Id", "Producers", "Consumers", "Delivery"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return 0


def _print_info(queue: dict[str, Any], metrics: dict[str, Any], args: argparse.Namespace) -> int:
    if getattr(args, "json", False):
        print(json.dumps({**queue, "metrics": metrics}, indent=2))
        return 0
    settings = queue.get("settings") or {}
    print(f"Queue: {queue.get('queue_name')} ({queue.get('queue_id')})")
    print(f"  backlog:        {metrics.get('backlog_count')} message(s)")
    print(f"  backlog bytes:  {metrics.get('backlog_bytes')}")
    print(f"  delivery:       {'paused' if settings.get('delivery_paused') else 'active'}")
    for consumer in queue.get("consumers") or []:
        who = consumer.get("script_name") or consumer.get("type")
        print(f"  consumer:       {who} ({consumer.get('type')})")
    return 0


def _confirm(prompt: str) -> bool:
    try:
        return input(prompt).strip().lower() in ("y", "yes")
    except EOFError:
        return False
