"""Where Workflow instances live: one SQLite database for every Workflow of an emulator.

In memory, or ``<persist_to>/workflows.sqlite`` (WAL, ``synchronous=NORMAL``): every write is
one autocommitted statement, so a step result that was recorded survives the process being
killed at any moment, and an instance resumes from its last recorded step.

Tables: ``instances`` (status, params, output, error), ``steps`` (a recorded step result,
sleep deadline or received event, by cache key ``<kind>:<name>-<count>``), ``events``
(events sent and not yet taken by a ``wait_for_event``) and ``attempts`` (each attempt of a
``step.do`` and each sleep: start, end, error; the history ``cfemu workflows instances
describe`` shows). ``attempts`` was added without a format change: an older file gains it
when opened, and an older cfemu ignores it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Final, NamedTuple

from cfemu._sqlite_schema import ensure_schema
from cfemu.errors import StateError
from cfemu.workflows.store_times import InstanceTimes

__all__ = ["AttemptRow", "InstanceRow", "WorkflowStore", "store_file"]

#: ``PRAGMA application_id`` of a cfemu Workflows file ("CFWF").
APPLICATION_ID: Final = 0x43465746
SCHEMA_VERSION: Final = 1

_SCHEMA = """
CREATE TABLE instances (
    workflow TEXT NOT NULL,
    id TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    output TEXT,
    error TEXT,
    seq INTEGER NOT NULL,
    PRIMARY KEY (workflow, id)
) WITHOUT ROWID;
CREATE TABLE steps (
    workflow TEXT NOT NULL,
    instance TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (workflow, instance, key)
) WITHOUT ROWID;
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow TEXT NOT NULL,
    instance TEXT NOT NULL,
    type TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow TEXT NOT NULL,
    instance TEXT NOT NULL,
    key TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER,
    error TEXT
);
CREATE TABLE IF NOT EXISTS instance_times (
    workflow TEXT NOT NULL,
    instance TEXT NOT NULL,
    paused_ms INTEGER,
    end_ms INTEGER,
    PRIMARY KEY (workflow, instance)
) WITHOUT ROWID
"""
_ADDED = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS attempts") :]
#: The error recorded on an attempt that was running when its process stopped.
INTERRUPTED: Final = {"name": "Interrupted", "message": "the emulator stopped during this attempt"}


#: The steps of an instance that started at or after one of them (see ``forget_steps``).
_FORGET_FROM: Final = """
WITH starts AS (
    SELECT s.key AS key, coalesce(
        (SELECT min(a.seq) FROM attempts a
         WHERE a.workflow = s.workflow AND a.instance = s.instance AND a.key = s.key),
        (SELECT d.seq FROM steps d
         WHERE d.workflow = s.workflow AND d.instance = s.instance
           AND s.key LIKE 'event:%' AND d.key = 'deadline:' || substr(s.key, 7)),
        s.seq) AS start
    FROM steps s WHERE s.workflow = ?1 AND s.instance = ?2
)
DELETE FROM steps WHERE workflow = ?1 AND instance = ?2 AND key IN (
    SELECT key FROM starts WHERE start >= (SELECT start FROM starts WHERE key = ?3)
)
"""


def store_file(persist_to: Path | str) -> Path:
    """``<persist_to>/workflows.sqlite``."""
    return Path(persist_to) / "workflows.sqlite"


class InstanceRow(NamedTuple):
    """One stored instance."""

    workflow: str
    id: str
    status: str
    params: Any
    created_ms: int
    output: Any
    error: dict[str, str] | None


class AttemptRow(NamedTuple):
    """One attempt of a step (``key`` is the step's cache key); ``end_ms`` is ``None``
    while it runs; ``error`` is ``None`` when it succeeded (or runs). ``seq`` orders it
    among the instance's recorded steps (:meth:`WorkflowStore.timeline`)."""

    seq: int
    key: str
    start_ms: int
    end_ms: int | None
    error: dict[str, str] | None


class WorkflowStore(InstanceTimes):
    """Instances, step results and pending events in SQLite (``path=None``: in memory)."""

    def __init__(self, path: Path | str | None, *, read_only: bool = False) -> None:
        self.path = None if path is None else Path(path)
        if read_only:
            if self.path is None:
                raise ValueError("a read-only WorkflowStore needs a path")
            target: str | Path = f"{self.path.resolve().as_uri()}?mode=ro"
        else:
            target = ":memory:" if self.path is None else self.path
        self.conn = sqlite3.connect(
            target, isolation_level=None, check_same_thread=False, timeout=5.0, uri=read_only
        )
        try:
            if read_only:
                self._check_read_only()
            else:
                if self.path is not None:
                    self.conn.execute("PRAGMA journal_mode=WAL")
                    self.conn.execute("PRAGMA synchronous=NORMAL")
                self._check_schema()
                self.conn.executescript(_ADDED)
        except BaseException:
            self.conn.close()
            raise
        self._seq = 0 if read_only else self._last_seq()

    def _last_seq(self) -> int:
        return int(
            self.conn.execute(
                "SELECT max(coalesce((SELECT max(seq) FROM instances), 0),"
                " coalesce((SELECT max(seq) FROM steps), 0),"
                " coalesce((SELECT max(seq) FROM attempts), 0))"
            ).fetchone()[0]
        )

    def _check_schema(self) -> None:
        version = ensure_schema(
            self.conn,
            self.path,
            what="Workflows",
            application_id=APPLICATION_ID,
            version=SCHEMA_VERSION,
            schema=_SCHEMA,
        )
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} was written by a newer cfemu (Workflows format {version}; "
                f"this cfemu reads {SCHEMA_VERSION})"
            )

    def _check_read_only(self) -> None:
        found = self.conn.execute("PRAGMA application_id").fetchone()[0]
        if found != APPLICATION_ID:
            raise StateError(f"{self.path} is not a cfemu Workflows state file")

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    # --- instances -------------------------------------------------------------------------
    def add_instance(self, workflow: str, instance: str, params: Any, created_ms: int) -> None:
        """Record a new ``queued`` instance."""
        self.conn.execute(
            "INSERT INTO instances VALUES (?, ?, 'queued', ?, ?, NULL, NULL, ?)",
            (workflow, instance, json.dumps(params), created_ms, self._next()),
        )

    def instance(self, workflow: str, instance: str) -> InstanceRow | None:
        """The stored instance, or ``None``."""
        row = self.conn.execute(
            "SELECT workflow, id, status, params, created_ms, output, error FROM instances"
            " WHERE workflow = ? AND id = ?",
            (workflow, instance),
        ).fetchone()
        return None if row is None else _row(row)

    def instances(self, workflow: str | None = None) -> list[InstanceRow]:
        """Every stored instance (of ``workflow``), oldest first."""
        rows = self.conn.execute(
            "SELECT workflow, id, status, params, created_ms, output, error FROM instances"
            " WHERE ? IS NULL OR workflow = ? ORDER BY seq",
            (workflow, workflow),
        ).fetchall()
        return [_row(row) for row in rows]

    def set_status(
        self,
        workflow: str,
        instance: str,
        status: str,
        *,
        output: Any = None,
        error: dict[str, str] | None = None,
    ) -> None:
        """Record the instance's status (and its output or error when it finished)."""
        self.conn.execute(
            "UPDATE instances SET status = ?, output = ?, error = ? WHERE workflow = ? AND id = ?",
            (
                status,
                json.dumps(output),
                None if error is None else json.dumps(error),
                workflow,
                instance,
            ),
        )

    # --- steps -----------------------------------------------------------------------------
    def step(self, workflow: str, instance: str, key: str) -> tuple[bool, Any]:
        """``(True, value)`` when ``key`` is recorded, else ``(False, None)``."""
        row = self.conn.execute(
            "SELECT value FROM steps WHERE workflow = ? AND instance = ? AND key = ?",
            (workflow, instance, key),
        ).fetchone()
        return (False, None) if row is None else (True, json.loads(row[0]))

    def record_step(self, workflow: str, instance: str, key: str, value_json: str) -> None:
        """Record a step's result (JSON text), once."""
        self.conn.execute(
            "INSERT OR IGNORE INTO steps VALUES (?, ?, ?, ?, ?)",
            (workflow, instance, key, value_json, self._next()),
        )

    def steps(self, workflow: str, instance: str) -> list[tuple[str, Any]]:
        """Every recorded step of the instance, in the order they were recorded."""
        rows = self.conn.execute(
            "SELECT key, value FROM steps WHERE workflow = ? AND instance = ? ORDER BY seq",
            (workflow, instance),
        ).fetchall()
        return [(key, json.loads(value)) for key, value in rows]

    def timeline(self, workflow: str, instance: str) -> list[tuple[int, str, Any]]:
        """Every recorded step of the instance as ``(seq, key, value)``, in recorded order."""
        rows = self.conn.execute(
            "SELECT seq, key, value FROM steps WHERE workflow = ? AND instance = ? ORDER BY seq",
            (workflow, instance),
        ).fetchall()
        return [(seq, key, json.loads(value)) for seq, key, value in rows]

    def forget_steps(self, workflow: str, instance: str, from_key: str | None = None) -> None:
        """Drop the recorded steps: all of them, or ``from_key`` and every step that started
        after it (a ``step.do`` starts at its first attempt, an event received at the start
        of its wait; a step without either at its record)."""
        if from_key is None:
            self.conn.execute(
                "DELETE FROM steps WHERE workflow = ? AND instance = ?", (workflow, instance)
            )
        else:
            self.conn.execute(_FORGET_FROM, (workflow, instance, from_key))
        self.conn.execute(
            "DELETE FROM attempts WHERE workflow = ? AND instance = ? AND key NOT IN"
            " (SELECT key FROM steps WHERE workflow = ? AND instance = ?)",
            (workflow, instance, workflow, instance),
        )

    # --- attempts (history) -----------------------------------------------------------------
    def begin_attempt(self, workflow: str, instance: str, key: str, start_ms: int) -> int:
        """Record an attempt of step ``key`` starting; its id for :meth:`end_attempt`. An
        attempt of ``key`` left open by a stopped process is closed as interrupted."""
        self.conn.execute(
            "UPDATE attempts SET end_ms = ?, error = ? WHERE workflow = ? AND instance = ?"
            " AND key = ? AND end_ms IS NULL",
            (start_ms, json.dumps(INTERRUPTED), workflow, instance, key),
        )
        seq = self._next()  # one order across steps and attempts: the instance's timeline
        self.conn.execute(
            "INSERT INTO attempts (seq, workflow, instance, key, start_ms) VALUES (?, ?, ?, ?, ?)",
            (seq, workflow, instance, key, start_ms),
        )
        return seq

    def end_attempt(
        self, attempt_id: int, end_ms: int, error: dict[str, str] | None = None
    ) -> None:
        """Record an attempt's end (and its error, when it failed)."""
        self.conn.execute(
            "UPDATE attempts SET end_ms = ?, error = ? WHERE seq = ?",
            (end_ms, None if error is None else json.dumps(error), attempt_id),
        )

    def attempts(self, workflow: str, instance: str) -> list[AttemptRow]:
        """Every recorded attempt of the instance's steps, oldest first (none in a file
        written before attempts were recorded)."""
        try:
            rows = self.conn.execute(
                "SELECT seq, key, start_ms, end_ms, error FROM attempts WHERE workflow = ? AND"
                " instance = ? ORDER BY seq",
                (workflow, instance),
            ).fetchall()
        except sqlite3.OperationalError:  # a read-only look at a file without the table
            return []
        return [
            AttemptRow(seq, key, start, end, None if error is None else json.loads(error))
            for seq, key, start, end, error in rows
        ]

    # --- events ----------------------------------------------------------------------------
    def add_event(self, workflow: str, instance: str, type_: str, event: dict[str, Any]) -> None:
        """Queue an event for the instance's next ``wait_for_event`` of ``type_``."""
        self.conn.execute(
            "INSERT INTO events (workflow, instance, type, event) VALUES (?, ?, ?, ?)",
            (workflow, instance, type_, json.dumps(event)),
        )

    def take_event(self, workflow: str, instance: str, type_: str, key: str) -> Any | None:
        """Move the oldest queued event of ``type_`` into the step ``key`` (one transaction);
        the event, or ``None`` when none is queued."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT seq, event FROM events WHERE workflow = ? AND instance = ? AND type = ?"
                " ORDER BY seq LIMIT 1",
                (workflow, instance, type_),
            ).fetchone()
            if row is not None:
                conn.execute("DELETE FROM events WHERE seq = ?", (row[0],))
                conn.execute(
                    "INSERT OR IGNORE INTO steps VALUES (?, ?, ?, ?, ?)",
                    (workflow, instance, key, row[1], self._next()),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return None if row is None else json.loads(row[1])

    # --- whole instances ---------------------------------------------------------------------
    def state_bytes(self, workflow: str, instance: str) -> int:
        """Bytes of the instance's recorded steps (keys and JSON values)."""
        row = self.conn.execute(
            "SELECT coalesce(sum(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0)"
            " FROM steps WHERE workflow = ? AND instance = ?",
            (workflow, instance),
        ).fetchone()
        return int(row[0])

    def delete_instance(self, workflow: str, instance: str) -> bool:
        """Forget the instance and everything recorded for it (one transaction); whether
        it existed."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute(
                "DELETE FROM instances WHERE workflow = ? AND id = ?", (workflow, instance)
            ).rowcount
            for table in self._instance_tables():
                conn.execute(
                    f"DELETE FROM {table} WHERE workflow = ? AND instance = ?",
                    (workflow, instance),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return found > 0

    def _instance_tables(self) -> list[str]:
        """The tables holding per-instance rows (``workflow``, ``instance`` columns)."""
        names = [
            row[0]
            for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return [
            name
            for name in names
            if {"workflow", "instance"}
            <= {col[1] for col in self.conn.execute(f"PRAGMA table_info({name})")}
        ]

    def close(self) -> None:
        """Close the database (idempotent)."""
        self.conn.close()


def _row(row: tuple[Any, ...]) -> InstanceRow:
    workflow, id_, status, params, created_ms, output, error = row
    return InstanceRow(
        workflow,
        id_,
        status,
        json.loads(params),
        created_ms,
        None if output is None else json.loads(output),
        None if error is None else json.loads(error),
    )
