"""``cfemu queues consumer http add|remove QUEUE``: HTTP pull consumers, as wrangler's verbs.

wrangler creates pull consumers through Cloudflare's API (its config refuses
``type = "http_pull"``); cfemu records them in the state folder's ``queues-settings.json``,
where ``cfemu dev`` (and its REST API) find them. Both refuse while a process holds the
folder: the running ``cfemu dev`` owns it then (use its API, ``/client/v4``, instead).
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from cfemu.cli._common import state_options
from cfemu.errors import CfemuError, QueueError

if TYPE_CHECKING:  # imported by the commands: `cfemu --help` stays fast
    from cfemu.queues.registry import QueueRegistry
    from cfemu.state import StateLock

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``consumer http add|remove`` under ``cfemu queues``."""
    consumer = commands.add_parser(
        "consumer", help="manage a queue's HTTP pull consumer (consumer http add|remove)"
    )
    consumer.set_defaults(parser=consumer)
    kinds = consumer.add_subparsers(dest="consumer_kind", metavar="KIND")
    http = kinds.add_parser("http", help="HTTP pull consumers")
    http.set_defaults(parser=http)
    verbs = http.add_subparsers(dest="consumer_verb", metavar="COMMAND")
    common = state_options()

    add = verbs.add_parser("add", parents=[common], help="give QUEUE an HTTP pull consumer")
    add.add_argument("queue", metavar="QUEUE")
    add.add_argument("--batch-size", type=int, help="messages per pull (default 5, max 100)")
    add.add_argument("--message-retries", type=int, help="max retries (default 3, max 100)")
    add.add_argument("--dead-letter-queue", help="queue for messages out of retries")
    add.add_argument(
        "--visibility-timeout-secs", type=int, help="lease duration in seconds (default 30)"
    )
    add.add_argument("--retry-delay-secs", type=int, help="delay of a retry (default 0)")
    add.set_defaults(handler=_add)

    remove = verbs.add_parser("remove", parents=[common], help="remove QUEUE's pull consumer")
    remove.add_argument("queue", metavar="QUEUE")
    remove.set_defaults(handler=_remove)


def _open(args: argparse.Namespace) -> tuple[StateLock, QueueRegistry, set[str], set[str]]:
    """Lock the state folder; its queue registry, the config's queues and consumed ones."""
    from cfemu.config import find_config, load_config
    from cfemu.queues.registry import SETTINGS_FILE, QueueRegistry
    from cfemu.state import StateLock, default_state_folder

    path = Path(args.config) if args.config else find_config()
    config = load_config(path, environment=args.env)
    folder = Path(args.persist_to or default_state_folder(config.path))
    lock = StateLock.acquire(folder)
    registry = QueueRegistry(folder / SETTINGS_FILE)
    consumed = {c.queue for c in config.queues.consumers}
    dead = {c.dead_letter_queue for c in config.queues.consumers if c.dead_letter_queue}
    known = consumed | dead | {p.queue for p in config.queues.producers}
    return lock, registry, known, consumed


def _add(args: argparse.Namespace) -> int:
    from cfemu.queues.pull import PullSettings
    from cfemu.queues.registry import now_iso

    lock, registry, known, consumed = _open(args)
    try:
        queue: str = args.queue
        if queue not in known and queue not in registry.queues:
            raise CfemuError(f'Queue "{queue}" does not exist (not in the config, nor created)')
        if queue in consumed:
            raise CfemuError(f'Queue "{queue}" already has a Worker consumer (in the config)')
        record = registry.ensure(queue, configured=queue in known)
        if record.pull is not None:
            raise CfemuError(f'Queue "{queue}" already has an HTTP pull consumer')
        seconds = args.visibility_timeout_secs
        options = {
            "batch_size": args.batch_size,
            "max_retries": args.message_retries,
            "retry_delay": args.retry_delay_secs,
            "visibility_timeout_ms": None if seconds is None else seconds * 1000,
        }
        try:
            settings = PullSettings(
                **{k: v for k, v in options.items() if v is not None},
                dead_letter_queue=args.dead_letter_queue,
            )
        except QueueError as exc:
            raise CfemuError(str(exc)) from None
        dlq = settings.dead_letter_queue
        if dlq is not None:
            registry.ensure(dlq, configured=dlq in known)
        record.pull = {
            "consumer_id": uuid.uuid4().hex,
            "created_on": now_iso(),
            "settings": asdict(settings),
        }
        registry.touch(record)
    finally:
        lock.release()
    print(f"Added HTTP pull consumer to queue {queue}.")
    return 0


def _remove(args: argparse.Namespace) -> int:
    lock, registry, _known, _consumed = _open(args)
    try:
        record = registry.queues.get(args.queue)
        if record is None or record.pull is None:
            raise CfemuError(f'Queue "{args.queue}" has no HTTP pull consumer')
        record.pull = None
        registry.touch(record)
    finally:
        lock.release()
    print(f"Removed HTTP pull consumer from queue {args.queue}.")
    return 0
