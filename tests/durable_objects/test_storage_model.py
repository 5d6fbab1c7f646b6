"""A hypothesis state machine: the key-value API against a plain-dict model."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from cfemu.durable_objects.database import ObjectDatabase
from cfemu.durable_objects.ids import IdFactory
from cfemu.durable_objects.storage import DurableObjectStorage

KEYS = st.text(alphabet="ab\u00e9\u0000z\U0001f600", max_size=3)
VALUES = st.one_of(
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.text(max_size=5),
    st.lists(st.integers(0, 9), max_size=3),
    st.none(),
)


def done(awaitable: Awaitable[Any]) -> Any:
    """The result of an already-settled storage awaitable."""
    step = awaitable.__await__()
    try:
        next(step)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("storage awaitable suspended")


class _Host:
    firing_alarm = None
    id = IdFactory("model").from_name("x")
    delete_all_deletes_alarm = True
    sql_enabled = True

    def check_storage_fault(self) -> None:
        pass

    def block(self, callback: Any, *, reset_on_error: bool = True) -> Any:
        raise NotImplementedError

    def alarm_set_allowed(self) -> bool:
        return True

    def alarm_touched(self) -> None:
        pass


def _model_list(model: dict[str, Any], opts: dict[str, Any]) -> list[str]:
    keys = sorted(model, key=lambda k: k.encode("utf-8", "surrogatepass"))

    def b(k: str) -> bytes:
        return k.encode("utf-8", "surrogatepass")

    if opts.get("start") is not None:
        keys = [k for k in keys if b(k) >= b(opts["start"])]
    if opts.get("startAfter") is not None:
        keys = [k for k in keys if b(k) > b(opts["startAfter"])]
    if opts.get("end") is not None:
        keys = [k for k in keys if b(k) < b(opts["end"])]
    if opts.get("prefix"):
        keys = [k for k in keys if k.startswith(opts["prefix"])]
    if opts.get("reverse"):
        keys.reverse()
    if opts.get("limit") is not None:
        keys = keys[: opts["limit"]]
    return keys


class StorageMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.db = ObjectDatabase(None)
        self.storage = DurableObjectStorage(self.db, _Host())
        self.model: dict[str, Any] = {}

    @rule(key=KEYS, value=VALUES)
    def put(self, key: str, value: Any) -> None:
        done(self.storage.put(key, value))
        self.model[key] = value

    @rule(entries=st.dictionaries(KEYS, VALUES, max_size=4))
    def put_many(self, entries: dict[str, Any]) -> None:
        done(self.storage.put(entries))
        self.model.update(entries)

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        assert done(self.storage.delete(key)) is (key in self.model)
        self.model.pop(key, None)

    @rule(keys=st.lists(KEYS, max_size=4, unique=True))
    def delete_many(self, keys: list[str]) -> None:
        assert done(self.storage.delete(keys)) == sum(k in self.model for k in keys)
        for key in keys:
            self.model.pop(key, None)

    @rule(keys=st.lists(KEYS, max_size=4))
    def get_many(self, keys: list[str]) -> None:
        got = done(self.storage.get(keys))
        expected = {k: self.model[k] for k in keys if k in self.model}
        assert dict(got) == expected
        assert list(got) == sorted(expected, key=lambda k: k.encode("utf-8", "surrogatepass"))

    @rule(
        start=st.none() | KEYS,
        after=st.none() | KEYS,
        end=st.none() | KEYS,
        prefix=st.none() | KEYS,
        reverse=st.booleans(),
        limit=st.none() | st.integers(1, 5),
    )
    def list(
        self, start: Any, after: Any, end: Any, prefix: Any, reverse: bool, limit: Any
    ) -> None:
        opts = {"end": end, "prefix": prefix, "reverse": reverse, "limit": limit}
        if after is not None:
            opts["startAfter"] = after
        else:
            opts["start"] = start
        opts = {k: v for k, v in opts.items() if v is not None}
        assert list(done(self.storage.list(**opts))) == _model_list(self.model, opts)

    @rule(key=KEYS, value=VALUES)
    def failed_transaction_changes_nothing(self, key: str, value: Any) -> None:
        def fn() -> None:
            self.storage.kv.put(key, value)
            self.storage.kv.delete("a")
            raise ValueError("abort")

        try:
            self.storage.transactionSync(fn)
        except ValueError:
            pass
        else:  # pragma: no cover
            raise AssertionError("transactionSync swallowed the error")

    @rule()
    def delete_all(self) -> None:
        done(self.storage.deleteAll())
        self.model.clear()

    @invariant()
    def contents_match(self) -> None:
        assert dict(done(self.storage.list())) == self.model

    def teardown(self) -> None:
        self.db.close()


StorageMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=20)
TestStorageModel = StorageMachine.TestCase
