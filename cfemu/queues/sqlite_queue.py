"""One queue of a :class:`~cfemu.queues.sqlite_store.SqliteStore`: the in-memory index of
:class:`~cfemu.queues.store.MemoryQueueStore`, each transition also logged as the statements
that replay it on disk (the store's group commit writes them; see :mod:`cfemu.queues.sqlite_store`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from cfemu.queues._sql_log import ADD, DELETE, LEASE, RETRY, UNLEASE
from cfemu.queues.store import IN_FLIGHT, MemoryQueueStore, StoredMessage, UniformBatch

if TYPE_CHECKING:
    from cfemu.queues.sqlite_store import SqliteStore

__all__ = ["SqliteQueueStore"]


class SqliteQueueStore(MemoryQueueStore):
    """One queue of a :class:`SqliteStore`: the in-memory index plus logged writes."""

    __slots__ = ("_owner",)

    _numbers_keys = False  # row keys come from the file's sequence

    def __init__(self, name: str, owner: SqliteStore) -> None:
        super().__init__(name)
        self._owner = owner

    def enqueue(self, messages: Sequence[StoredMessage], now: float) -> None:
        if not messages:
            return
        self._owner._log(ADD, self._rows(messages))
        super().enqueue(messages, now)

    def _rows(self, messages: Sequence[StoredMessage]) -> list[tuple[Any, ...]]:
        """Give each message its row key; the rows that insert them."""
        seq = self._owner._seq
        name = self._name
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        for m in messages:
            m.key = key = next(seq)
            append(
                (
                    key,
                    m.id,
                    name,
                    m.timestamp_ms,
                    m.content_type,
                    m.payload,
                    m.size,
                    m.due,
                    m.attempts,
                )
            )
        return rows

    def lease_sent(self, batch: UniformBatch) -> bool:
        return False  # new messages are written (``SqliteStore.add``) before any lease

    def lease(self, limit: int) -> list[StoredMessage]:
        out = super().lease(limit)
        if out:
            self._owner._log(LEASE, [m.key for m in out])
        return out

    def settle(
        self,
        finished: Iterable[StoredMessage],
        retried: Iterable[tuple[StoredMessage, float]],
        now: float,
    ) -> None:
        finished = finished if isinstance(finished, list) else list(finished)
        retried = retried if isinstance(retried, list) else list(retried)
        owner = self._owner
        if finished:
            owner._log(DELETE, [m.key for m in finished])
        if retried:
            by_due: dict[float, list[int]] = {}
            for msg, due in retried:
                keys = by_due.get(due)
                if keys is None:
                    by_due[due] = [msg.key]
                else:
                    keys.append(msg.key)
            for due, keys in by_due.items():
                owner._log(RETRY, (due, keys))
        super().settle(finished, retried, now)

    def unlease(
        self, messages: Iterable[StoredMessage], now: float, *, front: bool = False
    ) -> None:
        self._flying.spread()
        flying = self._flying.single
        back = [m for m in messages if m in flying]
        if back:
            self._owner._log(UNLEASE, [m.key for m in back])
        super().unlease(back, now, front=front)

    def take(self, ids: Iterable[str]) -> list[StoredMessage]:
        out = super().take(ids)
        if out:
            self._owner._log(DELETE, [m.key for m in out])
        return out

    def _restore(self, records: list[StoredMessage], now: float) -> None:
        """Load recovered messages: in-flight ones stay in flight, the others are ready or
        delayed by their due time (nothing is written)."""
        flying = [m for m in records if m.state == IN_FLIGHT]
        if len(flying) == len(records):
            waiting: list[StoredMessage] = []
        else:
            waiting = [m for m in records if m.state != IN_FLIGHT]
        MemoryQueueStore.enqueue(self, waiting, now)
        if flying:
            # Index them like any message (bytes, send-time index) via enqueue, then move
            # them from the back of the ready deque into flight.
            MemoryQueueStore.enqueue(self, flying, float("inf"))
            pop = self._ready.pop
            for msg in flying:
                pop()
                self._ready_bytes -= msg.size
            in_flight = self._flying.single
            for msg in flying:
                msg.state = IN_FLIGHT
                in_flight[msg] = None
