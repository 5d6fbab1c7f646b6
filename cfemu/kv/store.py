"""Where a KV namespace's pairs live: one SQLite table, in memory or in a file (WAL).

The store knows nothing of Cloudflare's API: it keeps ``key → (value, expiration,
metadata)``, hides pairs whose expiration has passed on the clock it is asked with, and lists
keys in the order Cloudflare does (by their UTF-8 bytes: SQLite's ``BINARY`` collation of
UTF-8 text). Validation and wording live in :mod:`cfemu.kv.namespace`.

Durability: every write is one autocommitted statement, written to the WAL before it returns
(``synchronous=NORMAL``), so a ``put`` that returned survives the process being killed at any
moment (``SIGKILL``); a power loss may lose the last writes, never corrupt the file.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path
from typing import Final, NamedTuple

from cfemu._sqlite_schema import ensure_schema
from cfemu.errors import StateError

__all__ = ["KvEntry", "KvStore", "namespace_file"]

#: ``PRAGMA application_id`` of a cfemu KV file ("CFKV").
APPLICATION_ID: Final = 0x43464B56
SCHEMA_VERSION: Final = 1
#: Expired pairs are deleted from the file after this many writes (reads hide them anyway).
PURGE_EVERY: Final = 1000

_SCHEMA = """
CREATE TABLE entries (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expiration INTEGER,
    metadata TEXT
) WITHOUT ROWID;
CREATE INDEX entries_expiration ON entries (expiration) WHERE expiration IS NOT NULL
"""
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def namespace_file(persist_to: Path | str, namespace_id: str) -> Path:
    """Where a persisted namespace lives: ``<persist_to>/kv/<namespace id>.sqlite``.

    An id that is not a plain file name (characters outside ``A-Z a-z 0-9 . _ -``, such as
    the ``<YOUR_KV_NAMESPACE_ID>`` placeholder of Cloudflare's examples) is sanitized and
    suffixed with a short hash of the original, so distinct ids never share a file.
    """
    if _SAFE_ID.match(namespace_id):
        name = namespace_id
    else:
        digest = hashlib.sha256(namespace_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        name = f"{_UNSAFE_CHARS.sub('_', namespace_id).strip('._')[:64] or 'kv'}-{digest}"
    return Path(persist_to) / "kv" / f"{name}.sqlite"


class KvEntry(NamedTuple):
    """One stored pair: the value's bytes, its expiration (epoch seconds) and metadata JSON."""

    value: bytes
    expiration: int | None
    metadata: str | None


class KvListRow(NamedTuple):
    """One key of a listing: its name, expiration and metadata JSON (no value)."""

    name: str
    expiration: int | None
    metadata: str | None


def _prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (``None``:
    no bound). Code-point order is UTF-8 byte order, so this bounds an index range."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code == 0xD800:
            code = 0xE000  # surrogates never appear in stored (UTF-8) keys
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


class KvStore:
    """One namespace's pairs in SQLite: ``path=None`` keeps them in memory.

    Not thread-safe: use it from the event loop's thread (each call is one short statement).
    """

    def __init__(self, path: Path | str | None) -> None:
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(
                ":memory:" if self.path is None else self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=5.0,
            )
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: cannot open KV state ({exc})") from None
        try:
            if self.path is not None:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StateError(f"{self.path} is not a cfemu KV state file ({exc})") from None
        except BaseException:
            self.conn.close()
            raise
        self._writes = 0
        self._closed = False

    def _check_schema(self) -> None:
        version = ensure_schema(
            self.conn,
            self.path,
            what="KV",
            application_id=APPLICATION_ID,
            version=SCHEMA_VERSION,
            schema=_SCHEMA,
        )
        if version != SCHEMA_VERSION:
            raise StateError(
                f"{self.path} holds KV state in format {version}; this cfemu reads format "
                f"{SCHEMA_VERSION}. Upgrade cfemu, or use another --persist-to folder."
            )

    # -- reads ------------------------------------------------------------------------------
    def get(self, key: str, now: float) -> KvEntry | None:
        """The live pair under ``key`` at time ``now``, or ``None``."""
        row = self.conn.execute(
            "SELECT value, expiration, metadata FROM entries WHERE key = ? "
            "AND (expiration IS NULL OR expiration > ?)",
            (key, now),
        ).fetchone()
        return None if row is None else KvEntry(*row)

    def list(
        self, now: float, *, prefix: str = "", after: str | None = None, limit: int = 1000
    ) -> tuple[list[KvListRow], bool]:
        """Up to ``limit`` live keys starting with ``prefix``, strictly after ``after``, in
        UTF-8 byte order; and whether more follow."""
        clauses = ["(expiration IS NULL OR expiration > ?)"]
        params: list[object] = [now]
        low = prefix
        if after is not None and after >= low:
            clauses.append("key > ?")
            params.append(after)
        elif low:
            clauses.append("key >= ?")
            params.append(low)
        if prefix:
            end = _prefix_end(prefix)
            if end is not None:
                clauses.append("key < ?")
                params.append(end)
        params.append(limit + 1)
        rows = self.conn.execute(
            "SELECT key, expiration, metadata FROM entries WHERE "
            + " AND ".join(clauses)
            + " ORDER BY key LIMIT ?",
            params,
        ).fetchall()
        more = len(rows) > limit
        return [KvListRow(*row) for row in rows[:limit]], more

    def count(self, now: float) -> int:
        """How many live pairs the namespace holds."""
        row = self.conn.execute(
            "SELECT count(*) FROM entries WHERE expiration IS NULL OR expiration > ?", (now,)
        ).fetchone()
        return int(row[0])

    # -- writes -----------------------------------------------------------------------------
    def put(
        self, key: str, value: bytes, *, expiration: int | None = None, metadata: str | None = None
    ) -> None:
        """Store ``value`` under ``key`` (replacing any pair); durable when this returns."""
        self.conn.execute(
            "INSERT OR REPLACE INTO entries (key, value, expiration, metadata) VALUES (?, ?, ?, ?)",
            (key, value, expiration, metadata),
        )
        self._wrote()

    def delete(self, key: str) -> None:
        """Remove ``key`` (nothing happens when it is absent)."""
        self.conn.execute("DELETE FROM entries WHERE key = ?", (key,))
        self._wrote()

    def purge_expired(self, now: float) -> int:
        """Delete every pair expired at ``now``; returns how many."""
        cursor = self.conn.execute(
            "DELETE FROM entries WHERE expiration IS NOT NULL AND expiration <= ?", (now,)
        )
        return cursor.rowcount

    def _wrote(self) -> None:
        self._writes += 1

    @property
    def writes(self) -> int:
        """Writes since the store was opened (the service purges expired pairs by it)."""
        return self._writes

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._closed:
            self._closed = True
            self.conn.close()
