"""The queue state file (``queues.sqlite``): its schema, format checks and upgrades, and the
read-only views and purge the ``cfemu queues`` commands use.

The file carries its schema version (``PRAGMA user_version``, :data:`SCHEMA_VERSION`) and an
``application_id``; a file from another cfemu format or another program is refused with a
:class:`~cfemu.errors.StateError`, never silently reused. An older format is upgraded in place
when the emulator opens it (never by the read-only commands), in one transaction.

Format history: 1 stored ``v8`` bodies as pickles; 2 stores them as data
(:mod:`cfemu.queues._v8`); the upgrade converts them without running stored code
(:mod:`cfemu.queues._legacy`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from cfemu.errors import StateError

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "QueueSummary",
    "StoredRow",
    "Synchronous",
    "open_state_file",
    "purge_queue",
    "read_queue",
    "read_summaries",
]

#: SQLite ``synchronous`` levels the store accepts (``OFF`` is refused: it risks corruption).
Synchronous = Literal["NORMAL", "FULL", "EXTRA"]

#: Version of the queue state schema. Bump it, and add a step to ``_MIGRATIONS``, whenever
#: the tables change.
SCHEMA_VERSION: Final = 2
#: ``PRAGMA application_id`` of a cfemu queue state file ("cfQS").
APPLICATION_ID: Final = 0x63665153

_SCHEMA: Final = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE messages (
    seq          INTEGER PRIMARY KEY,  -- row key, in write order (appends stay cheap)
    id           TEXT NOT NULL,     -- Cloudflare message id (kept by dead-letter moves)
    queue        TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,  -- send time (emulator clock, ms since the epoch)
    content_type TEXT NOT NULL,
    payload      NOT NULL,          -- serialized body: TEXT (text) or BLOB (json, bytes, v8)
    size         INTEGER NOT NULL,
    due          REAL NOT NULL,     -- when it is (or was) deliverable (emulator clock, s)
    attempts     INTEGER NOT NULL,  -- deliveries started
    leased       INTEGER NOT NULL   -- 1 while a consumer batch holds it (in flight)
);
"""


#: Schema migrations: ``{from_version: step}`` taking a file to ``from_version + 1`` (each
#: step runs inside the upgrade's one transaction).
def _v1_to_v2(conn: sqlite3.Connection) -> None:
    from cfemu.queues._legacy import upgrade_v8_bodies

    upgrade_v8_bodies(conn)


_MIGRATIONS: Final[dict[int, Callable[[sqlite3.Connection], None]]] = {1: _v1_to_v2}


def _cfemu_version() -> str:
    from cfemu import __version__

    return __version__


def open_state_file(
    path: Path, *, create: bool, synchronous: Synchronous = "NORMAL"
) -> sqlite3.Connection:
    """Open (or create) a queue state file and check its format; WAL mode, autocommit.

    Raises :class:`StateError` for a file that is not cfemu queue state, or that was written
    in a schema version this cfemu cannot read (newer, or older without a migration).
    """
    if synchronous not in ("NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, got {synchronous!r}")
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    except sqlite3.Error as exc:
        raise StateError(f"{path}: cannot open queue state ({exc})") from None
    try:
        if create:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        _check_schema(conn, path, create=create)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StateError(f"{path} is not a cfemu queue state file ({exc})") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _check_schema(conn: sqlite3.Connection, path: Path, *, create: bool) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    has_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    if app_id == 0 and version == 0 and not has_tables:
        if not create:
            raise StateError(f"{path} holds no queue state yet")
        conn.execute("BEGIN IMMEDIATE")
        try:  # statement by statement: executescript() would commit on its own
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("created_by", _cfemu_version())],
            )
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return
    if app_id != APPLICATION_ID:
        raise StateError(
            f"{path} is not a cfemu queue state file (application_id {app_id:#x}); "
            f"move it away or use another --persist-to folder"
        )
    if version == SCHEMA_VERSION:
        return
    writer = _meta(conn, "created_by") or "an unknown cfemu"
    if version > SCHEMA_VERSION:
        raise StateError(
            f"{path} holds queue state in format {version}, written by cfemu {writer}; this "
            f"cfemu ({_cfemu_version()}) reads format {SCHEMA_VERSION}. Upgrade cfemu, or use "
            f"another --persist-to folder."
        )
    if not create:
        raise StateError(
            f"{path} holds queue state in the older format {version}; start the emulator "
            f"once to migrate it to format {SCHEMA_VERSION}"
        )
    _migrate(conn, path, version)


def _migrate(conn: sqlite3.Connection, path: Path, version: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        while version < SCHEMA_VERSION:
            step = _MIGRATIONS.get(version)
            if step is None:
                raise StateError(
                    f"{path} holds queue state in format {version}, which this cfemu "
                    f"({_cfemu_version()}, format {SCHEMA_VERSION}) cannot migrate; use "
                    f"another --persist-to folder"
                )
            step(conn)
            version += 1
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
        )
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


# --- reading and purging a state file (the ``cfemu queues`` commands) -----------------------


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """What a state file holds for one queue (``cfemu queues list``/``inspect``).

    ``ready``/``delayed`` are split at ``now`` (due times are on the emulator's clock);
    ``in_flight`` counts messages a consumer batch held when the state was last written.
    """

    queue: str
    ready: int
    delayed: int
    in_flight: int
    backlog_bytes: int
    oldest_timestamp_ms: int | None
    next_due: float | None

    @property
    def backlog(self) -> int:
        """Every message not yet done."""
        return self.ready + self.delayed + self.in_flight


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One persisted message (``cfemu queues inspect``)."""

    id: str
    timestamp_ms: int
    content_type: str
    payload: bytes | str
    size: int
    due: float
    attempts: int
    in_flight: bool


def read_summaries(conn: sqlite3.Connection, now: float) -> list[QueueSummary]:
    """Per-queue counts of an open state file, sorted by queue name."""
    rows = conn.execute(
        "SELECT queue, "
        "sum(leased = 0 AND due <= ?), sum(leased = 0 AND due > ?), sum(leased), "
        "sum(size), min(timestamp_ms), min(CASE WHEN leased = 0 AND due > ? THEN due END) "
        "FROM messages GROUP BY queue ORDER BY queue",
        (now, now, now),
    ).fetchall()
    return [
        QueueSummary(
            queue=q,
            ready=int(ready or 0),
            delayed=int(delayed or 0),
            in_flight=int(flying or 0),
            backlog_bytes=int(size or 0),
            oldest_timestamp_ms=oldest,
            next_due=next_due,
        )
        for q, ready, delayed, flying, size, oldest, next_due in rows
    ]


def read_queue(conn: sqlite3.Connection, queue: str, limit: int | None = None) -> list[StoredRow]:
    """The persisted messages of ``queue``, oldest send first (at most ``limit``)."""
    sql = (
        "SELECT id, timestamp_ms, content_type, payload, size, due, attempts, leased "
        "FROM messages WHERE queue = ? ORDER BY timestamp_ms, seq"
    )
    params: tuple[Any, ...] = (queue,)
    if limit is not None:
        sql += " LIMIT ?"
        params = (queue, limit)
    return [
        StoredRow(id_, ts, ctype, payload, size, due, attempts, bool(leased))
        for id_, ts, ctype, payload, size, due, attempts, leased in conn.execute(sql, params)
    ]


def purge_queue(conn: sqlite3.Connection, queue: str) -> int:
    """Delete every message of ``queue`` (ready, delayed, in flight); returns how many."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        count = conn.execute("DELETE FROM messages WHERE queue = ?", (queue,)).rowcount
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(count)
