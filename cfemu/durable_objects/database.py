"""One Durable Object's SQLite database: implicit transactions, savepoints, cfemu's tables.

Writes made without an ``await`` between them are committed together (spec:
durable-objects.md §5.1 "write coalescing"): the first write of a turn opens a transaction,
and it commits when the event loop next gets control (``loop.call_soon``), or earlier when
the object's output gate needs it (:meth:`ObjectDatabase.flush`, before a response or an
outgoing call leaves the object). ``transaction()``/``transactionSync()`` nest as
savepoints inside it.

cfemu keeps the key-value API in ``_cf_KV`` (keys as UTF-8 BLOBs, so ranges compare
bytes as Cloudflare orders them) and the alarm in ``_cf_METADATA``; both names are
reserved (``_cf_``), so user SQL cannot touch them.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cfemu.d1.guard import Guard, apply_limits

__all__ = ["ObjectDatabase"]


class ObjectDatabase:
    """The SQLite database behind one object's ``ctx.storage`` (file or memory)."""

    def __init__(self, path: Path | None, *, on_commit: Callable[[], None] | None = None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(
            ":memory:" if path is None else path,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
        self.guard = Guard()
        apply_limits(self.conn)
        self.conn.set_authorizer(self.guard)
        tag = secrets.token_hex(6)
        self._tag = f" /* cfemu {tag} */"
        self._on_commit = on_commit
        self._commit_scheduled = False
        self._depth = 0  # open savepoints (transaction / transactionSync)
        self._savepoints = 0
        self.closed = False
        #: Set by the first write of a turn; cleared by commit or rollback.
        self.dirty = False
        #: A commit that failed since the last flush (the output gate breaks).
        self.failed: Exception | None = None
        #: Called before each commit (fault injection): raising fails the commit.
        self.before_commit: Callable[[], None] | None = None
        if path is not None:
            self.trusted("PRAGMA journal_mode = WAL")
            self.trusted("PRAGMA synchronous = NORMAL")
        self.trusted("PRAGMA foreign_keys = ON")
        self._refresh_tables()

    def _refresh_tables(self) -> None:
        names = {r[0] for r in self.trusted("SELECT name FROM sqlite_master WHERE type='table'")}
        self.has_kv = "_cf_KV" in names
        self.has_meta = "_cf_METADATA" in names

    # --- cfemu's own statements -------------------------------------------------------
    def trusted(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run cfemu's own SQL past the authorizer (never user SQL)."""
        self.guard.trusted = True
        try:
            return self.conn.execute(sql + self._tag, params).fetchall()
        finally:
            self.guard.trusted = False

    def ensure_kv(self) -> None:
        """Create ``_cf_KV`` on first use (a fresh database stays one page)."""
        if not self.has_kv:
            self.trusted(
                "CREATE TABLE IF NOT EXISTS _cf_KV (key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID"
            )
            self.has_kv = True

    def ensure_meta(self) -> None:
        """Create ``_cf_METADATA`` (the alarm, the object's name) on first use."""
        if not self.has_meta:
            self.trusted("CREATE TABLE IF NOT EXISTS _cf_METADATA (key TEXT PRIMARY KEY, value)")
            self.has_meta = True

    def get_meta(self, key: str) -> Any:
        """A value of ``_cf_METADATA``, or ``None``."""
        if not self.has_meta:
            return None
        rows = self.trusted("SELECT value FROM _cf_METADATA WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: Any) -> None:
        """Set (or with ``None`` delete) a value of ``_cf_METADATA``, in the current write."""
        self.begin_write()
        self.ensure_meta()
        if value is None:
            self.trusted("DELETE FROM _cf_METADATA WHERE key = ?", (key,))
        else:
            self.trusted(
                "INSERT OR REPLACE INTO _cf_METADATA (key, value) VALUES (?, ?)", (key, value)
            )

    # --- the implicit transaction ----------------------------------------------------
    def begin_write(self) -> None:
        """Join (or open) this turn's implicit transaction; it commits on the next turn."""
        if not self.conn.in_transaction:
            self.trusted("BEGIN")
        self.dirty = True
        if not self._commit_scheduled:
            self._commit_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self._auto_commit)
            except RuntimeError:  # no loop (a synchronous caller): commit at once
                self._commit_scheduled = False
                if self._depth == 0:
                    self.commit()

    def _auto_commit(self) -> None:
        self._commit_scheduled = False
        if self.closed:
            return
        if self._depth:
            # A transaction() closure is awaiting something: commit when it ends.
            return
        try:
            self.commit()
        except Exception as exc:
            # The writes are lost: the output gate (flush) reports it to the event.
            self.rollback()
            self.failed = exc

    def commit(self) -> None:
        """Commit the open transaction now (outside any savepoint)."""
        if self.conn.in_transaction and self._depth == 0:
            if self.before_commit is not None:
                self.before_commit()
            self.trusted("COMMIT")
            self.dirty = False
            if self._on_commit is not None:
                self._on_commit()

    def flush(self) -> None:
        """The output gate: make the writes made so far durable before anything leaves.

        Raises the error of a commit that failed (the writes are gone)."""
        failed, self.failed = self.failed, None
        if failed is not None:
            raise failed
        if self._depth == 0 and self.conn.in_transaction:
            try:
                self.commit()
            except BaseException:
                self.rollback()
                raise

    def rollback(self) -> None:
        """Drop every uncommitted write (a reset, ``abort()``)."""
        if self.conn.in_transaction:
            self.trusted("ROLLBACK")
        self._depth = 0
        self.dirty = False
        self._refresh_tables()

    # --- savepoints (transaction / transactionSync) ----------------------------------
    def savepoint(self) -> str:
        """Open a savepoint inside the implicit transaction; returns its name."""
        self.begin_write()
        self._savepoints += 1
        name = f"cfemu_sp{self._savepoints}"
        self.trusted(f"SAVEPOINT {name}")
        self._depth += 1
        return name

    def release(self, name: str) -> None:
        """Keep the savepoint's writes (they commit with the implicit transaction)."""
        self._depth -= 1
        self.trusted(f"RELEASE {name}")
        if self._depth == 0 and not self._commit_scheduled:
            self.begin_write()  # schedule the commit the closure postponed

    def rollback_to(self, name: str) -> None:
        """Undo the savepoint's writes."""
        self._depth -= 1
        self.trusted(f"ROLLBACK TO {name}")
        self.trusted(f"RELEASE {name}")
        self._refresh_tables()

    @property
    def in_savepoint(self) -> bool:
        """Whether a ``transaction``/``transactionSync`` is open."""
        return self._depth > 0

    # --- size and lifetime ---------------------------------------------------------------
    def size(self) -> int:
        """``databaseSize``: (pages - free pages) x page size; at least one page."""
        pages = self.trusted("PRAGMA page_count")[0][0]
        free = self.trusted("PRAGMA freelist_count")[0][0]
        page_size = self.trusted("PRAGMA page_size")[0][0]
        return int(max(pages - free, 1) * page_size)

    def wipe(self, *, keep_alarm: bool) -> None:
        """``deleteAll()``: drop every table, view and trigger, in the current write."""
        alarm = self.get_meta("alarm") if keep_alarm else None
        self.begin_write()
        objects = self.trusted(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view', 'trigger') "
            "AND name NOT LIKE 'sqlite_%'"
        )
        self.trusted("PRAGMA defer_foreign_keys = ON")
        for kind, name in objects:
            if kind == "trigger":
                self.trusted(f"DROP TRIGGER IF EXISTS {_quote(name)}")
        for kind, name in objects:
            if kind == "view":
                self.trusted(f"DROP VIEW IF EXISTS {_quote(name)}")
        for kind, name in objects:
            if kind == "table":
                self.trusted(f"DROP TABLE IF EXISTS {_quote(name)}")
        self.has_kv = self.has_meta = False
        if alarm is not None:
            self.set_meta("alarm", alarm)

    def close(self) -> None:
        """Commit what is pending and close the connection."""
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            self.conn.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
