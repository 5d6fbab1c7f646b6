"""cfemu's D1: a SQLite-backed D1 binding with D1's API, results, errors and limits.

>>> db = open_database(None)  # doctest: +SKIP
>>> await db.prepare("SELECT ? AS x").bind(1).first("x")  # doctest: +SKIP
1

See ``docs/d1.md``.
"""

from __future__ import annotations

from cfemu.d1.database import (
    D1Database,
    D1DatabaseSession,
    D1PreparedStatement,
    database_file,
    open_database,
)
from cfemu.d1.migrations import (
    apply_migrations,
    create_migration,
    list_migrations,
    pending_migrations,
)

__all__ = [
    "D1Database",
    "D1DatabaseSession",
    "D1PreparedStatement",
    "apply_migrations",
    "create_migration",
    "database_file",
    "list_migrations",
    "open_database",
    "pending_migrations",
]
