"""``ctx.storage``: the async key-value API, ``kv``, ``sql``, alarms and transactions.

spec: durable-objects.md §4, §6. Every async method does its work when called and returns
an already-settled awaitable (:mod:`cfemu.durable_objects._settled`): awaiting storage never
lets another event into the object, which is Cloudflare's input gate for storage.
Options Cloudflare takes as a trailing object may be given as a dict or as keywords
(``list(prefix="a")``, as Pyodide passes them).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from cfemu._js import JsDict
from cfemu.durable_objects._settled import Settled, settle
from cfemu.durable_objects.database import ObjectDatabase
from cfemu.durable_objects.errors import DurableObjectError, DurableObjectTypeError
from cfemu.durable_objects.ids import DurableObjectId
from cfemu.durable_objects.kv import KvStore, list_options
from cfemu.durable_objects.sql import SqlStorage
from cfemu.durable_objects.values import to_timestamp_ms

__all__ = [
    "DurableObjectStorage",
    "DurableObjectTransaction",
    "StorageHost",
    "SyncKvStorage",
]


SQL_NOT_ENABLED = (
    "SQL is not enabled for this Durable Object class. To enable it, change `new_classes` "
    "to `new_sqlite_classes` in the migrations of your wrangler configuration."
)
SYNC_KV_NOT_ENABLED = (
    "The storage.kv (synchronous KV) API is only available for SQLite-backed Durable "
    "Objects, but this object's class is KV-backed (declared in `new_classes`)."
)


class StorageHost(Protocol):
    """What storage needs from the object that owns it (the actor)."""

    firing_alarm: int | None
    id: DurableObjectId

    def check_storage_fault(self) -> None:
        """Raise an injected storage fault, if one is armed."""

    def block(self, callback: Callable[[], Any], *, reset_on_error: bool = True) -> Awaitable[Any]:
        """``blockConcurrencyWhile(callback)``."""

    def alarm_set_allowed(self) -> bool:
        """Whether ``setAlarm`` may be called now (an alarm handler, or the constructor)."""

    def alarm_touched(self) -> None:
        """The alarm changed in the open write: reschedule once it commits."""

    @property
    def delete_all_deletes_alarm(self) -> bool:
        """Whether ``deleteAll()`` also deletes the alarm (compatibility date)."""

    @property
    def sql_enabled(self) -> bool:
        """Whether the class is SQLite-backed (``new_sqlite_classes``)."""


def _alarm_ms(time: Any) -> int:
    if isinstance(time, datetime):
        ms = to_timestamp_ms(time)
    elif isinstance(time, int | float) and not isinstance(time, bool):
        ms = int(time)
    else:
        raise DurableObjectTypeError(
            f"setAlarm() expects a Date (datetime) or epoch milliseconds, got {type(time).__name__}"
        )
    if ms <= 0:
        raise DurableObjectTypeError("setAlarm() cannot be called with an alarm time <= 0")
    return ms


class _Alarms:
    def __init__(self, db: ObjectDatabase, host: StorageHost) -> None:
        self.db = db
        self.host = host

    def get(self) -> int | None:
        stored = self.db.get_meta("alarm")
        if stored is None or stored == self.host.firing_alarm:
            return None  # a running alarm reads as deleted (spec §6)
        return int(stored)

    def set(self, time: Any) -> None:
        ms = _alarm_ms(time)
        if not self.host.alarm_set_allowed():
            raise DurableObjectTypeError(
                "Your Durable Object class must have an alarm() handler in order to call setAlarm()"
            )
        self.db.set_meta("alarm", ms)
        if self.host.id.name is not None:  # an alarm wakes the object with its name
            self.db.set_meta("name", self.host.id.name)
        self.host.alarm_touched()

    def delete(self) -> None:
        if self.db.get_meta("alarm") is not None:
            self.db.set_meta("alarm", None)
            self.host.alarm_touched()


class SyncKvStorage:
    """``ctx.storage.kv``: synchronous ``get``/``put``/``delete``/``list``."""

    __slots__ = ("_check", "_kv", "_list_generation")

    def __init__(self, kv: KvStore, check: Callable[[], None]) -> None:
        self._kv = kv
        self._check = check
        self._list_generation = 0

    def get(self, key: str) -> Any:
        """The value at ``key``, or ``None``."""
        self._check()
        return self._kv.get(key)

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` at ``key``."""
        self._check()
        self._kv.put(key, value)

    def delete(self, key: str) -> bool:
        """Delete ``key``; whether it existed."""
        self._check()
        return self._kv.delete(key)

    def list(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Iterator[list[Any]]:
        """An iterator of ``[key, value]`` pairs; only the newest iterator stays valid."""
        self._check()
        opts = list_options(options, kwargs)
        self._list_generation += 1
        generation = self._list_generation
        pairs = list(self._kv.list(opts))

        def iterate() -> Iterator[list[Any]]:
            for key, value in pairs:
                if generation != self._list_generation:
                    raise DurableObjectError(
                        "kv.list() iterator was invalidated because a new call to kv.list() "
                        "was started. Only one kv.list() iterator can exist at a time."
                    )
                yield [key, value]

        return iterate()


class DurableObjectStorage:
    """``ctx.storage`` of a SQLite-backed Durable Object."""

    def __init__(self, db: ObjectDatabase, host: StorageHost) -> None:
        self._db = db
        self._host = host
        self._kv = KvStore(db, kv_backed=not host.sql_enabled)
        self._alarms = _Alarms(db, host)
        self._sql = SqlStorage(db, host.check_storage_fault)
        self._sync_kv = SyncKvStorage(self._kv, host.check_storage_fault)

    @property
    def sql(self) -> SqlStorage:
        """``storage.sql``: ``exec()`` and ``databaseSize`` (SQLite-backed classes only)."""
        if not self._host.sql_enabled:
            raise DurableObjectError(SQL_NOT_ENABLED)
        return self._sql

    @property
    def kv(self) -> SyncKvStorage:
        """``storage.kv``: the synchronous key-value API (SQLite-backed classes only)."""
        if not self._host.sql_enabled:
            raise DurableObjectError(SYNC_KV_NOT_ENABLED)
        return self._sync_kv

    def _run(self, fn: Callable[[], Any]) -> Settled[Any]:
        def guarded() -> Any:
            self._host.check_storage_fault()
            return fn()

        return settle(guarded)

    # --- key-value -------------------------------------------------------------------
    def get(self, keys: Any, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """The value at a key (``None`` if absent), or a dict of the listed keys found."""
        if isinstance(keys, list):
            return self._run(lambda: JsDict(self._kv.get_many(keys)))
        return self._run(lambda: self._kv.get(keys))

    def put(
        self,
        key: Any,
        value: Any = None,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Store a value at ``key``, or every pair of a dict (all or nothing)."""
        if isinstance(key, dict):
            entries = key
            return self._run(lambda: self._kv.put_many(entries))
        return self._run(lambda: self._kv.put(key, value))

    def delete(self, keys: Any, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Delete a key (whether it existed) or a list of keys (how many existed)."""
        if isinstance(keys, list):
            return self._run(lambda: self._kv.delete_many(keys))
        return self._run(lambda: self._kv.delete(keys))

    def list(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """A dict of the selected pairs, in key order (``start``, ``startAfter``, ``end``,
        ``prefix``, ``reverse``, ``limit``)."""
        return self._run(lambda: JsDict(self._kv.list(list_options(options, kwargs))))

    def deleteAll(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Delete every key, every SQL table and (by compatibility date) the alarm."""

        def wipe() -> None:
            keep = not self._host.delete_all_deletes_alarm
            had_alarm = self._db.get_meta("alarm") is not None
            self._db.wipe(keep_alarm=keep)
            if had_alarm and not keep:
                self._host.alarm_touched()

        if self._db.in_savepoint:
            return Settled(error=DurableObjectError("Cannot call deleteAll() within a transaction"))
        return self._run(wipe)

    def sync(self) -> Any:
        """Resolves once the writes so far are durable."""
        return self._run(self._db.flush)

    # --- alarms ------------------------------------------------------------------------
    def getAlarm(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """The alarm's time in epoch milliseconds, or ``None``."""
        return self._run(self._alarms.get)

    def setAlarm(
        self, scheduledTime: Any, options: Mapping[str, Any] | None = None, **kw: Any
    ) -> Any:
        """Set (replace) the object's one alarm: a ``datetime`` or epoch milliseconds."""
        return self._run(lambda: self._alarms.set(scheduledTime))

    def deleteAlarm(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Delete the alarm (a handler already running is not stopped)."""
        return self._run(self._alarms.delete)

    # --- transactions ------------------------------------------------------------------
    def transactionSync(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` atomically (a savepoint); an exception rolls it back and propagates."""
        if not self._host.sql_enabled:
            raise DurableObjectError("Durable Object is not backed by SQL.")
        self._host.check_storage_fault()
        name = self._db.savepoint()
        try:
            result = fn()
        except BaseException:
            self._db.rollback_to(name)
            raise
        self._db.release(name)
        return result

    def transaction(self, closure: Callable[[DurableObjectTransaction], Any]) -> Any:
        """Run ``await closure(txn)`` with no other event in between; all or nothing."""

        async def body() -> Any:
            name = self._db.savepoint()
            txn = DurableObjectTransaction(self)
            try:
                result = closure(txn)
                if inspect.isawaitable(result):
                    result = await result
            except BaseException:
                txn._state = "rolled back"
                self._db.rollback_to(name)
                raise
            if txn._state == "rolled back":
                self._db.rollback_to(name)
            else:
                txn._state = "committed"
                self._db.release(name)
            return result

        return self._host.block(body, reset_on_error=False)

    def __repr__(self) -> str:
        return "DurableObjectStorage()"


class DurableObjectTransaction:
    """The ``txn`` a ``transaction()`` closure receives."""

    def __init__(self, storage: DurableObjectStorage) -> None:
        self._storage = storage
        self._state = "open"

    def _use(self, op: str) -> DurableObjectStorage:
        if self._state == "rolled back":
            raise DurableObjectError(f"Cannot {op}() on rolled back transaction")
        if self._state == "committed":
            raise DurableObjectError(
                f"Cannot call {op}() on transaction that has already committed: did you move "
                "`txn` outside of the closure?"
            )
        return self._storage

    def get(self, keys: Any, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """``storage.get`` inside the transaction."""
        return self._use("get").get(keys)

    def put(self, key: Any, value: Any = None, options: Any = None, **kwargs: Any) -> Any:
        """``storage.put`` inside the transaction."""
        return self._use("put").put(key, value)

    def delete(self, keys: Any, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """``storage.delete`` inside the transaction."""
        return self._use("delete").delete(keys)

    def list(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """``storage.list`` inside the transaction."""
        return self._use("list").list(options, **kwargs)

    def getAlarm(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """``storage.getAlarm`` inside the transaction."""
        return self._use("getAlarm").getAlarm()

    def setAlarm(self, scheduledTime: Any, options: Any = None, **kwargs: Any) -> Any:
        """``storage.setAlarm`` inside the transaction."""
        return self._use("setAlarm").setAlarm(scheduledTime)

    def deleteAlarm(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """``storage.deleteAlarm`` inside the transaction."""
        return self._use("deleteAlarm").deleteAlarm()

    def deleteAll(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Not allowed inside a transaction."""
        raise DurableObjectError("Cannot call deleteAll() within a transaction")

    def rollback(self) -> None:
        """Undo the transaction's writes when the closure returns."""
        self._use("rollback")
        self._state = "rolled back"
