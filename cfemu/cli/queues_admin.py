"""``cfemu queues pause-delivery|resume-delivery|peek|redrive``: wrangler's verbs for
pausing a queue's delivery, and cfemu's own extras named plainly.

``pause-delivery``/``resume-delivery`` record the pause in the state folder's
``queues-settings.json`` (persisted: ``cfemu dev`` starts the queue paused), as wrangler
pauses a deployed queue. ``peek`` shows a queue's oldest messages without taking them;
``redrive`` moves every message of a dead-letter queue back to the queue that dead-lettered
them, with a fresh retry budget. The writing commands refuse while ``cfemu dev`` holds the
folder (its REST API at ``/client/v4`` pauses and resumes a running queue).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cfemu.cli._common import state_options
from cfemu.errors import CfemuError, StateError

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pause-delivery``, ``resume-delivery``, ``peek`` and ``redrive``."""
    common = state_options()
    for verb, help_text in (
        ("pause-delivery", "stop delivering QUEUE's messages (they are kept); persisted"),
        ("resume-delivery", "deliver QUEUE's messages again"),
    ):
        p = commands.add_parser(verb, parents=[common], help=help_text)
        p.add_argument("queue", metavar="QUEUE", help="queue name")
        p.set_defaults(handler=_set_paused, paused=verb == "pause-delivery")

    peek = commands.add_parser(
        "peek", parents=[common], help="show QUEUE's oldest messages without taking them"
    )
    peek.add_argument("queue", metavar="QUEUE", help="queue name")
    peek.add_argument("-n", "--count", type=int, default=10, help="how many (default 10)")
    peek.add_argument("--json", action="store_true", help="print JSON")
    peek.set_defaults(handler=_peek)

    redrive = commands.add_parser(
        "redrive",
        parents=[common],
        help="move a dead-letter queue's messages back to the queue they came from",
    )
    redrive.add_argument("queue", metavar="DLQ", help="the dead-letter queue")
    redrive.add_argument("--to", metavar="QUEUE", help="the queue to move them to")
    redrive.set_defaults(handler=_redrive)


def _locked(args: argparse.Namespace, action: str) -> tuple[Any, Any, Any]:
    """(lock, context, state folder) for a writing command; a clear error when in use."""
    from cfemu.cli.queues import _context
    from cfemu.state import StateLock, check_state_folder

    ctx = _context(args)
    check_state_folder(ctx.folder, create=True)
    try:
        lock = StateLock.acquire(ctx.folder)
    except StateError as exc:
        raise StateError(
            f"cannot {action}: {exc}. Stop it first, or use the running cfemu dev's "
            "Cloudflare API (/client/v4)"
        ) from None
    return lock, ctx, ctx.folder


def _require_queue(ctx: Any, name: str, extra: set[str] | None = None) -> None:
    from cfemu.cli.queues import _summaries

    known = set(_summaries(ctx)) | (extra or set())
    if name not in known:
        raise CfemuError(
            f'Queue "{name}" does not exist; queues: {", ".join(sorted(known)) or "none"}'
        )


def _set_paused(args: argparse.Namespace) -> int:
    from cfemu.queues.registry import SETTINGS_FILE, QueueRegistry

    name: str = args.queue
    verb = "pause" if args.paused else "resume"
    lock, ctx, folder = _locked(args, f"{verb} delivery of queue {name!r}")
    try:
        registry = QueueRegistry(Path(folder) / SETTINGS_FILE)
        _require_queue(ctx, name, set(registry.queues))
        record = registry.ensure(name, configured=name in ctx.declared)
        record.paused = bool(args.paused)
        registry.touch(record)
    finally:
        lock.release()
    print(f"{'Paused' if args.paused else 'Resumed'} message delivery for queue {name}.")
    return 0


def _peek(args: argparse.Namespace) -> int:
    from cfemu.cli.d1 import _table
    from cfemu.cli.queues import _body, _context, _iso, _now, _reading
    from cfemu.queues.state_file import read_queue

    ctx = _context(args)
    name: str = args.queue
    _require_queue(ctx, name)
    if args.count < 1:
        raise CfemuError(f"--count must be at least 1, got {args.count}")
    now = _now()
    with _reading(ctx) as conn:
        rows = [] if conn is None else read_queue(conn, name, limit=args.count)
    messages = [
        {
            "id": r.id,
            "timestamp": _iso(r.timestamp_ms),
            "attempts": r.attempts,
            "state": "in_flight" if r.in_flight else ("ready" if r.due <= now else "delayed"),
            "body": _body(r.content_type, r.payload),
        }
        for r in rows
    ]
    if args.json:
        print(json.dumps({"queue": name, "messages": messages}, ensure_ascii=False))
        return 0
    if not messages:
        print(f"Queue {name} has no messages.")
        return 0
    table = []
    for m in messages:
        body = json.dumps(m["body"], ensure_ascii=False)
        table.append([m["id"], m["timestamp"], m["attempts"], m["state"], _clip(body)])
    print(_table(["Id", "Sent", "Attempts", "State", "Body"], table))
    return 0


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _redrive(args: argparse.Namespace) -> int:
    from cfemu.cli.queues import STATE_FILE, _now
    from cfemu.queues.redrive import redrive_state_file, redrive_target
    from cfemu.queues.state_file import open_state_file
    from cfemu.state import opening_state

    dlq: str = args.queue
    lock, ctx, folder = _locked(args, f"redrive queue {dlq!r}")
    try:
        target = redrive_target(dlq, args.to, ctx.dlqs)
        _require_queue(ctx, dlq)
        _require_queue(ctx, target)
        state = Path(folder) / STATE_FILE
        if not state.exists():
            print(f"Queue {dlq} has no messages.")
            return 0
        with opening_state(state, "queue state"):
            conn = open_state_file(state, create=False)
            try:
                moved = redrive_state_file(conn, dlq, target, _now())
            finally:
                conn.close()
    finally:
        lock.release()
    plural = "s" if moved != 1 else ""
    print(f"Moved {moved} message{plural} from {dlq} back to {target} (retries start afresh).")
    return 0
