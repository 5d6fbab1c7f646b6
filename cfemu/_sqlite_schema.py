"""Creating or recognising a cfemu SQLite state file (its ``application_id`` and version)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cfemu.errors import StateError

__all__ = ["ensure_schema"]


def ensure_schema(
    conn: sqlite3.Connection,
    path: Path | str | None,
    *,
    what: str,
    application_id: int,
    version: int,
    schema: str,
) -> int:
    """Create ``schema`` in an empty file (marking it with ``application_id`` and
    ``version``), or check that the file is one of ours; returns the file's version.

    A file with foreign tables, or another application's id, is refused with a
    :class:`StateError` naming it: cfemu never writes over someone else's database.
    """
    found_id = conn.execute("PRAGMA application_id").fetchone()[0]
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found_id == 0 and found == 0:
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise StateError(f"{path} is not a cfemu {what} state file (foreign tables)")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in schema.split(";"):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id={application_id}")
            conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return version
    if found_id != application_id:
        raise StateError(
            f"{path} is not a cfemu {what} state file (application_id {found_id:#x}); "
            f"move it away or use another --persist-to folder"
        )
    return int(found)
