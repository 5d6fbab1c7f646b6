"""``cfemu queues ...``: inspect and purge persisted queue state.

The state is ``<persist-to>/queues.sqlite`` (default ``.cfemu/state`` beside the wrangler
config), the file ``cfemu dev`` and ``Emulator(persist_to=...)`` keep every queue's messages
in. ``list`` and ``inspect`` only read it, so they work while ``cfemu dev`` runs (WAL lets a
reader in beside the writer); ``purge`` writes, so it refuses while a process holds the
folder's lock. Ready and delayed are told apart by the real clock.
"""

from __future__ import annotations

import argparse
import base64
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cfemu.cli import queues_admin, queues_consumer, queues_remote
from cfemu.cli._common import state_options
from cfemu.errors import CfemuError, StateError

__all__ = ["register"]

STATE_FILE = "queues.sqlite"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``queues`` command group to the ``cfemu`` parser."""
    group = subparsers.add_parser(
        "queues",
        help="queues' persisted state: list, info, purge, pause-delivery, peek, redrive, ...",
        description="Read (and purge) the queue state persisted under --persist-to.",
    )
    group.set_defaults(parser=group)
    commands = group.add_subparsers(dest="queues_command", metavar="COMMAND")

    common = state_options()
    queues_consumer.register(commands)

    listing = commands.add_parser(
        "list", parents=[common], help="every queue with its ready, delayed and in-flight counts"
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_list)

    for verb in ("info", "inspect"):  # wrangler says info; inspect stays as a hidden alias
        if verb == "info":
            info = commands.add_parser(
                verb,
                parents=[common],
                help="one queue: depth, delayed, in flight, its DLQ, oldest message",
            )
        else:
            info = commands.add_parser(verb, parents=[common])
        info.add_argument("queue", metavar="QUEUE", help="queue name")
        info.add_argument(
            "--messages", type=int, default=0, metavar="N", help="also show the N oldest messages"
        )
        info.add_argument("--json", action="store_true", help="print JSON")
        info.set_defaults(handler=_inspect)

    purge = commands.add_parser(
        "purge", parents=[common], help="delete every message of a queue (asks first)"
    )
    purge.add_argument("queue", metavar="QUEUE", help="queue name")
    purge.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(handler=_purge)
    queues_admin.register(commands)
    queues_remote.add_remote(commands)


@dataclass
class _Context:
    """Where the state is, and what the wrangler config says about queues (if found)."""

    folder: Path
    dlqs: dict[str, str | None] = field(default_factory=dict)  # consumed queue -> its DLQ
    declared: list[str] = field(default_factory=list)

    @property
    def state_file(self) -> Path:
        return self.folder / STATE_FILE


def _context(args: argparse.Namespace) -> _Context:
    from cfemu.config import find_config, load_config
    from cfemu.errors import ConfigError
    from cfemu.state import default_state_folder

    try:
        path = Path(args.config) if args.config else find_config()
    except ConfigError:
        if args.persist_to is None:
            raise
        return _Context(Path(args.persist_to))
    config = load_config(path, environment=args.env)
    folder = Path(args.persist_to) if args.persist_to else default_state_folder(config.path)
    ctx = _Context(folder)
    names: list[str] = [p.queue for p in config.queues.producers]
    for consumer in config.queues.consumers:
        ctx.dlqs[consumer.queue] = consumer.dead_letter_queue
        names.append(consumer.queue)
        if consumer.dead_letter_queue:
            names.append(consumer.dead_letter_queue)
    ctx.declared = list(dict.fromkeys(names))
    return ctx


@contextmanager
def _reading(ctx: _Context) -> Iterator[sqlite3.Connection | None]:
    from cfemu.queues.sqlite_store import open_state_file
    from cfemu.state import check_state_folder, opening_state

    check_state_folder(ctx.folder, create=False)  # a newer format, a damaged folder: refused
    if not ctx.state_file.exists():
        yield None
        return
    with opening_state(ctx.state_file, "queue state"):
        conn = open_state_file(ctx.state_file, create=False)
        try:
            yield conn
        finally:
            conn.close()


def _now() -> float:
    from cfemu.clock import RealClock

    return RealClock().now()


def _iso(ms_or_s: float | None, *, ms: bool = True) -> str | None:
    if ms_or_s is None:
        return None
    seconds = ms_or_s / 1000 if ms else ms_or_s
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _summaries(ctx: _Context) -> dict[str, dict[str, Any]]:
    from cfemu.queues.sqlite_store import read_summaries

    out: dict[str, dict[str, Any]] = {
        name: _summary_dict(name, 0, 0, 0, 0, None, None) for name in ctx.declared
    }
    with _reading(ctx) as conn:
        if conn is not None:
            for s in read_summaries(conn, _now()):
                out[s.queue] = _summary_dict(
                    s.queue,
                    s.ready,
                    s.delayed,
                    s.in_flight,
                    s.backlog_bytes,
                    s.oldest_timestamp_ms,
                    s.next_due,
                )
    return dict(sorted(out.items()))


def _summary_dict(
    name: str,
    ready: int,
    delayed: int,
    in_flight: int,
    backlog_bytes: int,
    oldest_ms: int | None,
    next_due: float | None,
) -> dict[str, Any]:
    return {
        "queue": name,
        "ready": ready,
        "delayed": delayed,
        "in_flight": in_flight,
        "backlog": ready + delayed + in_flight,
        "backlog_bytes": backlog_bytes,
        "oldest_message_timestamp": _iso(oldest_ms),
        "next_due": _iso(next_due, ms=False),
    }


def _list(args: argparse.Namespace) -> int:
    ctx = _context(args)
    summaries = _summaries(ctx)
    if args.json:
        print(json.dumps({"state": str(ctx.state_file), "queues": list(summaries.values())}))
        return 0
    if not ctx.state_file.exists():
        print(f"No queue state in {ctx.folder} yet.")
    if not summaries:
        return 0
    from cfemu.cli.d1 import _table

    columns = ["Queue", "Ready", "Delayed", "In flight", "Bytes", "Oldest message"]
    rows = [
        [
            s["queue"],
            s["ready"],
            s["delayed"],
            s["in_flight"],
            s["backlog_bytes"],
            s["oldest_message_timestamp"] or "-",
        ]
        for s in summaries.values()
    ]
    print(_table(columns, rows))
    return 0


def _body(content_type: str, payload: bytes | str) -> Any:
    """A JSON-friendly view of a stored body."""
    if content_type == "json":
        try:
            return json.loads(payload)
        except ValueError as exc:
            return f"<json body not decoded: {exc}>"
    if content_type == "text":
        return payload if isinstance(payload, str) else bytes(payload).decode("utf-8", "replace")
    if not isinstance(payload, bytes):
        payload = str(payload).encode("utf-8", "surrogatepass")
    if content_type == "v8":
        from cfemu.queues import _v8

        try:
            return repr(_v8.loads(payload))  # data only: nothing stored is ever executed
        except _v8.V8DecodeError as exc:
            return f"<v8 body not decoded: {exc}>"
    return {"base64": base64.b64encode(payload).decode("ascii")}


def _inspect(args: argparse.Namespace) -> int:
    from cfemu.queues.sqlite_store import read_queue

    ctx = _context(args)
    name: str = args.queue
    summaries = _summaries(ctx)
    summary = summaries.get(name)
    if summary is None:
        known = ", ".join(summaries) or "none"
        raise CfemuError(f"no queue {name!r} in {ctx.state_file} or the config; queues: {known}")
    dlq_name = ctx.dlqs.get(name)
    dlq = summaries.get(dlq_name) if dlq_name else None
    limit = max(args.messages, 1)
    now = _now()
    with _reading(ctx) as conn:
        rows = [] if conn is None else read_queue(conn, name, limit=limit)
    messages = [
        {
            "id": r.id,
            "timestamp": _iso(r.timestamp_ms),
            "attempts": r.attempts,
            "state": "in_flight" if r.in_flight else ("ready" if r.due <= now else "delayed"),
            "due": _iso(r.due, ms=False),
            "content_type": r.content_type,
            "size": r.size,
            "body": _body(r.content_type, r.payload),
        }
        for r in rows
    ]
    from cfemu.queues.registry import SETTINGS_FILE, QueueRegistry

    settings = ctx.folder / SETTINGS_FILE
    record = QueueRegistry(settings).queues.get(name) if settings.exists() else None
    report = {
        **summary,
        "delivery_paused": bool(record is not None and record.paused),
        "dead_letter_queue": None
        if dlq_name is None
        else {"queue": dlq_name, "backlog": 0 if dlq is None else dlq["backlog"]},
        "oldest_message": messages[0] if messages else None,
        "messages": messages[: args.messages],
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    print(f"Queue {name} ({ctx.state_file})")
    print(f"  ready (depth):  {summary['ready']}")
    print(f"  delayed:        {summary['delayed']}")
    print(f"  in flight:      {summary['in_flight']}")
    print(f"  backlog bytes:  {summary['backlog_bytes']}")
    print(f"  delivery:       {'paused' if report['delivery_paused'] else 'active'}")
    if dlq_name is not None:
        print(f"  dead letters:   {report['dead_letter_queue']['backlog']} in {dlq_name}")
    if messages:
        oldest = messages[0]
        print(
            f"  oldest message: {oldest['id']} sent {oldest['timestamp']}, "
            f"attempts {oldest['attempts']}, {oldest['state']}"
        )
    else:
        print("  oldest message: -")
    for msg in report["messages"]:
        body = json.dumps(msg["body"], ensure_ascii=False)
        if len(body) > 80:
            body = body[:77] + "..."
        print(f"  {msg['id']}  {msg['timestamp']}  attempts={msg['attempts']}  {body}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    from cfemu.queues.sqlite_store import open_state_file, purge_queue
    from cfemu.state import StateLock, check_state_folder, opening_state

    ctx = _context(args)
    name: str = args.queue
    check_state_folder(ctx.folder, create=False)  # format and damage, before the lock
    summaries = _summaries(ctx)
    if name not in summaries:
        known = ", ".join(summaries) or "none"
        raise CfemuError(f'Queue "{name}" does not exist; queues: {known}')
    if not ctx.state_file.exists():
        print(f"Queue {name} has no messages.")
        return 0
    try:
        lock = StateLock.acquire(ctx.folder)
    except StateError as exc:
        # Purging under a live broker would desynchronise it from its file.
        raise StateError(
            f"cannot purge queue {name!r}: {exc}. A running 'cfemu dev' keeps its queues in "
            f"memory too; stop it first."
        ) from None
    try:
        with opening_state(ctx.state_file, "queue state"):
            conn = open_state_file(ctx.state_file, create=False)
            try:
                count = conn.execute(
                    "SELECT count(*) FROM messages WHERE queue = ?", (name,)
                ).fetchone()[0]
                if not count:
                    print(f"Queue {name} has no messages in {ctx.state_file}.")
                    return 0
                if not args.yes and not _confirm(
                    f"Delete {count} message{'s' if count != 1 else ''} of queue {name} "
                    f"(ready, delayed and in flight)? [y/N] "
                ):
                    print("Not purged.")
                    return 1
                deleted = purge_queue(conn, name)
            finally:
                conn.close()
    finally:
        lock.release()
    print(f"Purged {deleted} message{'s' if deleted != 1 else ''} from queue {name}.")
    return 0


def _confirm(prompt: str) -> bool:
    try:
        answer = input(prompt)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
