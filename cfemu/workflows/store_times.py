"""When a paused instance was paused and a finished one ended, and the shift of its timers
on resume: the ``instance_times`` table of :class:`~cfemu.workflows.store.WorkflowStore`."""

from __future__ import annotations

import sqlite3

__all__ = ["InstanceTimes"]


class InstanceTimes:
    """The ``instance_times`` methods of the Workflows store (``conn`` is its database)."""

    conn: sqlite3.Connection

    def _times(self, workflow: str, instance: str, column: str, value: int | None) -> None:
        self.conn.execute(
            f"INSERT INTO instance_times (workflow, instance, {column}) VALUES (?, ?, ?)"
            f" ON CONFLICT (workflow, instance) DO UPDATE SET {column} = excluded.{column}",
            (workflow, instance, value),
        )

    def set_paused(self, workflow: str, instance: str, at_ms: int | None) -> None:
        """Record when the instance became ``paused`` (what :meth:`shift_for_resume` uses;
        ``None``: forget it)."""
        self._times(workflow, instance, "paused_ms", at_ms)

    def set_end(self, workflow: str, instance: str, at_ms: int | None) -> None:
        """Record when the instance finished (``None``: it runs again, after a restart)."""
        self._times(workflow, instance, "end_ms", at_ms)

    def times(self, workflow: str, instance: str) -> tuple[int | None, int | None]:
        """``(paused_ms, end_ms)`` of the instance (``None`` when not recorded, as in a file
        written before they were)."""
        try:
            row = self.conn.execute(
                "SELECT paused_ms, end_ms FROM instance_times WHERE workflow = ? AND instance = ?",
                (workflow, instance),
            ).fetchone()
        except sqlite3.OperationalError:  # a read-only look at a file without the table
            return None, None
        return (None, None) if row is None else (row[0], row[1])

    def shift_for_resume(self, workflow: str, instance: str, now_ms: int) -> int:
        """Move every sleep and event deadline the instance had not reached when it was
        paused later by the time it spent paused, and forget the pause; the shift (ms).

        As Cloudflare's engine offsets its timers on resume (docs/workflows.md, "A sleep
        across a pause"): a 1-hour sleep paused after 20 minutes ends 40 minutes after the
        resume. The sleep's (or wait's) end in the history (its attempt) moves with it.
        """
        paused_ms, _ = self.times(workflow, instance)
        if paused_ms is None:
            return 0
        shift = max(0, now_ms - paused_ms)
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if shift:
                conn.execute(
                    "UPDATE steps SET value = CAST(CAST(value AS REAL) + ?3 AS TEXT)"
                    " WHERE workflow = ?1 AND instance = ?2 AND CAST(value AS REAL) > ?4 AND ("
                    " key LIKE 'sleep:%' OR (key LIKE 'deadline:%' AND NOT EXISTS ("
                    "  SELECT 1 FROM steps e WHERE e.workflow = ?1 AND e.instance = ?2"
                    "  AND e.key = 'event:' || substr(steps.key, 10))))",
                    (workflow, instance, shift, paused_ms),
                )
                conn.execute(
                    "UPDATE attempts SET end_ms = end_ms + ?3 WHERE workflow = ?1"
                    " AND instance = ?2 AND end_ms > ?4 AND (key LIKE 'sleep:%' OR ("
                    " key LIKE 'deadline:%' AND NOT EXISTS (SELECT 1 FROM steps e"
                    "  WHERE e.workflow = ?1 AND e.instance = ?2"
                    "  AND e.key = 'event:' || substr(attempts.key, 10))))",
                    (workflow, instance, shift, paused_ms),
                )
            conn.execute(
                "UPDATE instance_times SET paused_ms = NULL WHERE workflow = ? AND instance = ?",
                (workflow, instance),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return shift
