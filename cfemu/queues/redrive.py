"""Redrive: move a dead-letter queue's messages back to the queue that dead-lettered them.

One idea, two places: ``cfemu queues redrive`` rewrites the state file of a stopped
emulator (:func:`redrive_state_file`), the Local Explorer moves messages inside a running
broker (:func:`redrive`). Both choose the target the same way (:func:`redrive_target`) and
both give the moved messages a fresh retry budget (``attempts`` back to 0), ready at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from cfemu.errors import CfemuError, QueueError

if TYPE_CHECKING:
    from cfemu.queues.broker import Broker

__all__ = ["redrive", "redrive_state_file", "redrive_target"]


def redrive_target(dlq: str, to: str | None, dlqs: Mapping[str, str | None]) -> str:
    """The queue ``dlq``'s messages go back to: ``to`` when given, else the one queue whose
    consumer dead-letters into ``dlq`` (``dlqs``: consumed queue -> its dead-letter queue).
    ``CfemuError`` when there is none, or several to choose from."""
    if to is not None:
        return to
    sources = sorted(q for q, d in dlqs.items() if d == dlq)
    if not sources:
        raise CfemuError(
            f'Queue "{dlq}" is no consumer\'s dead_letter_queue in the config; name '
            "the queue to move its messages to with --to"
        )
    if len(sources) > 1:
        raise CfemuError(
            f'Queue "{dlq}" is the dead-letter queue of {", ".join(sources)}; choose one with --to'
        )
    return sources[0]


def redrive_state_file(conn: sqlite3.Connection, dlq: str, target: str, now: float) -> int:
    """Move every message of ``dlq`` to ``target`` in a stopped emulator's queue state
    (one transaction); returns how many moved."""
    conn.execute("BEGIN IMMEDIATE")
    moved = conn.execute(
        "UPDATE messages SET queue = ?, attempts = 0, leased = 0, due = ? WHERE queue = ?",
        (target, now, dlq),
    ).rowcount
    conn.execute("COMMIT")
    return moved


def redrive(broker: Broker, dlq: str, target: str, ids: Collection[str] | None = None) -> int:
    """Move ``dlq``'s ready and delayed messages (only those whose id is in ``ids``, when
    given) to ``target`` of a running broker, atomically; returns how many moved. Messages
    in flight (the DLQ's own consumer has them) stay. They keep their id, body and send time;
    their retries start afresh."""
    if dlq == target:
        raise QueueError(f'Cannot redrive queue "{dlq}" into itself')
    if dlq not in broker.queues:
        raise QueueError(f'Queue "{dlq}" does not exist')
    moved = broker.move(dlq, target, ids)
    if moved:
        broker.logger.info('Redrove %d message(s) from queue "%s" back to "%s"', moved, dlq, target)
    return moved
