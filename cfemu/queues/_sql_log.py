"""The log of pending writes of :class:`~cfemu.queues.sqlite_store.SqliteStore`, and its replay
as SQL statements inside one commit's transaction.

Each logged entry is ``(kind, data)``: :data:`ADD` rows to insert, or the row keys a
transition moves (:data:`LEASE`, :data:`UNLEASE`, :data:`DELETE`, :data:`RETRY` with its due
time). Replaying the log in order takes the file to the in-memory state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any, Final

__all__ = ["ADD", "DELETE", "INSERT", "LEASE", "RETRY", "UNLEASE", "Op", "write"]

#: One message row (``leased`` starts at 0).
INSERT: Final = (
    "INSERT INTO messages (seq, id, queue, timestamp_ms, content_type, payload, size, due, "
    "attempts, leased) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"
)
_CHUNK: Final = 500  # keys per ``IN (...)`` statement (well under SQLite's variable limit)

# Kinds of pending writes.
ADD: Final = 0  # rows to insert
LEASE: Final = 1  # keys: in flight, one more attempt
UNLEASE: Final = 2  # keys: back from flight, attempt uncounted
DELETE: Final = 3  # keys: done (acked, dead-lettered, dropped)
RETRY: Final = 4  # (due, keys): back from flight, deliverable at ``due``

Op = tuple[int, Any]
_IN_SQL: dict[tuple[str, int], str] = {}


def _in_sql(template: str, n: int) -> str:
    """``template`` with its ``IN ({})`` holding ``n`` placeholders (cached)."""
    key = (template, n)
    sql = _IN_SQL.get(key)
    if sql is None:
        sql = _IN_SQL[key] = template.format(", ".join("?" * n))
    return sql


def _chunks(keys: list[int]) -> Iterator[list[int]]:
    if len(keys) <= _CHUNK:
        yield keys
    else:
        for start in range(0, len(keys), _CHUNK):
            yield keys[start : start + _CHUNK]


def write(conn: sqlite3.Connection, ops: list[Op]) -> None:
    """Replay logged transitions as statements, in order; consecutive inserts merged."""
    execute = conn.execute
    rows: list[tuple[Any, ...]] = []
    for kind, data in ops:
        if kind == ADD:
            rows.extend(data)
            continue
        if rows:
            conn.executemany(INSERT, rows)
            rows = []
        if kind == RETRY:
            due, keys = data
            for part in _chunks(keys):
                execute(
                    _in_sql("UPDATE messages SET leased = 0, due = ? WHERE seq IN ({})", len(part)),
                    (due, *part),
                )
            continue
        if kind == LEASE:
            template = "UPDATE messages SET leased = 1, attempts = attempts + 1 WHERE seq IN ({})"
        elif kind == DELETE:
            template = "DELETE FROM messages WHERE seq IN ({})"
        else:
            template = "UPDATE messages SET leased = 0, attempts = attempts - 1 WHERE seq IN ({})"
        for part in _chunks(data):
            execute(_in_sql(template, len(part)), part)
    if rows:
        conn.executemany(INSERT, rows)
