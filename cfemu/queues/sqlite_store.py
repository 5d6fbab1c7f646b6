"""Queue state that survives restarts and crashes: a :class:`MessageStore` on SQLite (WAL).

The in-memory structures of :class:`~cfemu.queues.store.MemoryQueueStore` stay the index the
broker reads (every read is O(1), as in memory); each transition additionally appends the
statements that replay it on disk to a log of pending writes, and a *group commit* writes the
whole log in one SQLite transaction:

- a commit is scheduled (``loop.call_soon``) by the first transition after the previous one,
  so every transition made during one turn of the event loop shares one commit;
- a send (:meth:`SqliteStore.add`) joins the in-memory queue only in the commit that writes
  it, and its ``await`` returns after that commit: a message is durable when ``send`` returns,
  and many concurrent sends (and the consumer's leases and acks in between) share one commit;
- the broker awaits it before a consumer's handler runs, so the attempt counted by the lease
  is on disk before the handler can have side effects;
- a transition (a consumer batch settled, its exhausted messages moved to the dead-letter
  queue) is never split across commits: commits run between event-loop callbacks, never
  inside one.

A commit that fails (disk full, I/O error) writes nothing: the sends it carried raise
:class:`~cfemu.queues.store.StoreWriteError` and never existed; every other transition was
already applied in memory, so it stays pending, the store is not :attr:`~SqliteStore.writable`
(the broker starts no delivery) and the commit is retried with backoff on the clock until the
disk takes it.

Durability: with ``synchronous="NORMAL"`` (the default) a commit is written to the WAL file
before it returns but not fsynced, which survives the process being killed at any moment
(``SIGKILL``, a crash) — the operating system still holds the write — but not a power loss
or kernel crash, which may lose the last commits (never corrupt the file). Pass
``synchronous="FULL"`` to fsync every (group) commit and survive power loss too.

Recovery on open: messages that were in flight stay in flight in memory (their attempt was
persisted by the lease); the broker, which knows each consumer's ``max_retries`` and
dead-letter queue, settles them as a failed attempt when the consumer is attached (see
``Broker.set_consumer``). Delayed messages keep their absolute due times on the emulator's
clock.

The file's format checks and upgrades, and the read-only views of the ``cfemu queues``
commands, are in :mod:`cfemu.queues.state_file` (re-exported here).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Final, NoReturn

from cfemu.clock import Clock, TimerHandle
from cfemu.errors import StateError
from cfemu.queues._codec import CONTENT_TYPES
from cfemu.queues._sql_log import INSERT, Op, write
from cfemu.queues.sqlite_queue import SqliteQueueStore
from cfemu.queues.state_file import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    QueueSummary,
    StoredRow,
    Synchronous,
    open_state_file,
    purge_queue,
    read_queue,
    read_summaries,
)
from cfemu.queues.store import (
    DELAYED,
    IN_FLIGHT,
    MemoryQueueStore,
    MessageStore,
    QueueStore,
    StoredMessage,
    StoreWriteError,
    sent_at_ms,
)

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "QueueSummary",
    "SqliteQueueStore",
    "SqliteStore",
    "StoredRow",
    "open_state_file",
    "purge_queue",
    "read_queue",
    "read_summaries",
]

log = logging.getLogger("cfemu.queues")

#: Backoff between retries of a failed commit, on the emulator's clock (seconds).
RETRY_FIRST: Final = 0.1
RETRY_MAX: Final = 10.0


class _Send:
    """A ``send``/``sendBatch`` waiting for its commit: not in memory until it is durable."""

    __slots__ = ("added", "future", "messages", "now", "queue", "rows")

    def __init__(
        self,
        queue: SqliteQueueStore,
        messages: Sequence[StoredMessage],
        now: float,
        rows: list[tuple[Any, ...]],
        added: Callable[[], None],
        future: asyncio.Future[None],
    ) -> None:
        self.queue = queue
        self.messages = messages
        self.now = now
        self.rows = rows
        self.added = added
        self.future = future


class SqliteStore(MessageStore):
    """A :class:`~cfemu.queues.store.MessageStore` kept in one SQLite file (WAL mode).

    ``SqliteStore(path, clock, synchronous="NORMAL")`` opens or creates ``path`` and loads
    every queue's messages into memory. Transitions are logged and written by group commits
    (see the module docstring for the exact guarantee); :meth:`flush` waits for the commit
    that covers everything done so far; :meth:`commit` writes synchronously; :meth:`close`
    commits and closes the file.

    A commit that fails (disk full, I/O error) refuses the sends it carried (their messages
    never existed) and keeps every other transition pending: :attr:`writable` turns false and
    the commit is retried with backoff on ``clock`` until it succeeds, then
    the callback given to :meth:`notify_writable` runs (the broker resumes delivery).
    """

    def __init__(
        self, path: Path | str, clock: Clock, *, synchronous: Synchronous = "NORMAL"
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._conn: sqlite3.Connection | None = open_state_file(
            self.path, create=True, synchronous=synchronous
        )
        self._queues: dict[str, SqliteQueueStore] = {}
        self._ops: list[Op] = []
        self._sends: list[_Send] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._scheduled: asyncio.AbstractEventLoop | None = None  # where a commit is pending
        self._writable = True
        self._retry: TimerHandle | None = None
        self._backoff = RETRY_FIRST
        self._on_writable: Callable[[], None] | None = None
        self.commits = 0
        """Commits written so far (group commits make it much smaller than transitions)."""
        self.failed_commits = 0
        """Commits that could not be written (each retried, or its sends refused)."""
        self._recovered: dict[str, list[StoredMessage]] = {}
        start = self._load()
        self._seq = itertools.count(start)

    def _load(self) -> int:
        assert self._conn is not None
        rows = self._conn.execute(
            "SELECT seq, queue, id, timestamp_ms, content_type, payload, size, due, attempts, "
            "leased FROM messages ORDER BY due, seq"
        ).fetchall()
        recovered = self._recovered
        types = {ctype: ctype for ctype in CONTENT_TYPES}  # one str per type, not per row
        for key, queue, id_, ts, ctype, payload, _size, due, attempts, leased in rows:
            msg = StoredMessage(
                id_, sent_at_ms(ts), types.get(ctype, ctype), payload, due, attempts
            )
            msg.key = key
            msg.state = IN_FLIGHT if leased else DELAYED  # ready vs delayed: decided by due
            bucket = recovered.get(queue)
            if bucket is None:
                recovered[queue] = [msg]
            else:
                bucket.append(msg)
        top = self._conn.execute("SELECT max(seq) FROM messages").fetchone()[0]
        return 0 if top is None else top + 1

    # --- MessageStore ------------------------------------------------------------------------
    def open_queue(self, name: str) -> SqliteQueueStore:
        """The store of queue ``name``, holding whatever the file had for it."""
        store = self._queues.get(name)
        if store is None:
            store = self._queues[name] = SqliteQueueStore(name, self)
            records = self._recovered.pop(name, None)
            if records:
                store._restore(records, self.clock.now())
        return store

    def transaction(self) -> AbstractContextManager[None]:
        """Transitions made inside commit together (always true: commits run only between
        event-loop callbacks, so a synchronous block is never split)."""
        return nullcontext()

    async def flush(self) -> None:
        """Return once every transition made so far is committed (one shared commit);
        :class:`StoreWriteError` if that commit failed (the transitions stay pending)."""
        if not self._ops:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self._schedule(loop)
        await waiter

    async def add(
        self,
        queue: QueueStore,
        messages: Sequence[StoredMessage],
        now: float,
        added: Callable[[], None],
    ) -> None:
        """Queue a send's messages: they join ``queue`` (and ``added`` runs) in the commit
        that writes them; if it fails they are dropped and :class:`StoreWriteError` raised."""
        if self._conn is None:
            raise StateError(f"queue state {self.path} is closed")
        assert isinstance(queue, SqliteQueueStore) and queue._owner is self
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._sends.append(_Send(queue, messages, now, queue._rows(messages), added, future))
        self._schedule(loop)
        await future

    @property
    def writable(self) -> bool:
        """False while logged transitions could not be written (retrying with backoff)."""
        return self._writable

    def notify_writable(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the store writes again after failing."""
        self._on_writable = callback

    # --- writing -------------------------------------------------------------------------------
    def _log(self, kind: int, data: Any) -> None:
        if self._conn is None:
            raise StateError(f"queue state {self.path} is closed")
        self._ops.append((kind, data))
        if self._scheduled is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no event loop: flush(), commit() or close() writes it
            self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._scheduled is not loop:  # none yet, or on a loop that has since closed
            self._scheduled = loop
            loop.call_soon(self._defer_commit, loop)

    def _defer_commit(self, loop: asyncio.AbstractEventLoop) -> None:
        # One more turn of the loop lets the work this turn woke (a consumer acking, a
        # producer's next send) join the same commit.
        loop.call_soon(self._scheduled_commit)

    def _scheduled_commit(self) -> None:
        self._scheduled = None
        with contextlib.suppress(StateError):
            self.commit()  # a failure is logged, or raised to the sends and flushes it held

    def _retry_commit(self) -> None:
        self._retry = None
        if self._conn is None:
            return
        with contextlib.suppress(StateError):
            self.commit()  # a failure arms the next retry

    def commit(self) -> None:
        """Write every pending transition now, in one transaction, and wake :meth:`flush`.

        On failure nothing is half-written: the sends it carried are refused (their callers
        get :class:`StoreWriteError`), the other transitions stay pending and are retried
        with backoff on the clock, and :class:`StoreWriteError` is raised.
        """
        ops = self._ops
        sends = self._sends
        waiters = self._waiters
        if not ops and not sends:
            self._wake(waiters, None)
            return
        conn = self._conn
        if conn is None:
            raise StateError(f"queue state {self.path} is closed")
        self._ops = []
        self._sends = []
        self._waiters = []
        try:
            conn.execute("BEGIN")
            write(conn, ops)
            for send in sends:
                conn.executemany(INSERT, send.rows)
            conn.execute("COMMIT")
        except Exception as exc:  # sqlite3.Error, OSError, or a value sqlite3 cannot bind
            self._failed(conn, ops, sends, waiters, exc)
        self.commits += 1
        for send in sends:  # durable now: the messages join their queues
            MemoryQueueStore.enqueue(send.queue, send.messages, send.now)
            try:
                send.added()
            except Exception:  # the broker's bookkeeping; never leave a sender hanging
                log.exception("queue %r: after a send", send.queue.name)
            if not send.future.done():
                send.future.set_result(None)
        self._wake(waiters, None)
        if not self._writable:
            self._writable = True
            self._backoff = RETRY_FIRST
            self._cancel_retry()
            log.warning("queue state %s is writable again; delivery resumes", self.path)
            if self._on_writable is not None:
                self._on_writable()

    def _failed(
        self,
        conn: sqlite3.Connection,
        ops: list[Op],
        sends: list[_Send],
        waiters: list[asyncio.Future[None]],
        exc: Exception,
    ) -> NoReturn:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite rolled back on its own (e.g. after SQLITE_FULL)
        self.failed_commits += 1
        error = StoreWriteError(f"cannot write queue state to {self.path}: {exc}")
        for send in sends:  # never queued: nothing of them stays in memory or on disk
            if not send.future.done():
                send.future.set_exception(error)
        self._wake(waiters, error)
        if ops:
            # Already applied in memory: keep them, in order, ahead of anything logged since,
            # and retry until the disk takes them. Until then no delivery starts.
            self._ops = ops + self._ops
            if self._writable:
                self._writable = False
                log.error("%s; retrying, delivery paused", error)
            if self._retry is None and self._conn is not None:
                self._retry = self.clock.call_later(self._backoff, self._retry_commit)
                self._backoff = min(self._backoff * 2, RETRY_MAX)
        elif not sends and not waiters:
            log.error("%s", error)
        raise error from exc

    def _cancel_retry(self) -> None:
        retry, self._retry = self._retry, None
        if retry is not None:
            retry.cancel()

    @staticmethod
    def _wake(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        waiters.clear()

    def close(self) -> None:
        """Commit what is pending and close the file (idempotent). If that last commit
        fails, the file keeps the state of the last commit that succeeded (see
        ``docs/persistence.md``) and :class:`StoreWriteError` is raised."""
        if self._conn is None:
            return
        self._cancel_retry()
        try:
            self.commit()
        finally:
            conn, self._conn = self._conn, None
            conn.close()
            self._ops = []
            self._cancel_retry()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._conn is None

    @property
    def pending(self) -> int:
        """Transitions logged but not committed yet (sends waiting for their commit too)."""
        return len(self._ops) + len(self._sends)

    def __repr__(self) -> str:
        return f"<SqliteStore {str(self.path)!r} queues={sorted(self._queues)}>"
