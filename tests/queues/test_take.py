"""Taking messages out of a queue by id (a selective redrive): a stateful property test of
the in-memory store against a list model (which also checks the backlog's bytes and oldest
send time through every transition), and the broker's selective move costing what it moves
(it never walks the dead-letter queue)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.queues import Broker, ConsumerSettings
from cfemu.queues.pages import page_across
from cfemu.queues.store import (
    DELAYED,
    IN_FLIGHT,
    READY,
    MemoryQueueStore,
    StoredMessage,
    stored_messages,
)


class TakeMachine(RuleBasedStateMachine):
    """Every transition of a :class:`MemoryQueueStore` mixed with ``take``; the model keeps
    the ready ids in delivery order and the delayed ones with their (due, send order)."""

    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryQueueStore("q")
        self.now = 0.0
        self.ids = itertools.count()
        self.sent = itertools.count()
        self.ready: list[str] = []
        self.delayed: dict[str, tuple[float, int]] = {}
        self.flying: dict[str, StoredMessage] = {}  # in lease order
        self.leases: list[list[StoredMessage]] = []  # what lease returned, as returned
        self.sizes: dict[str, int] = {}  # of every message not done
        self.stamps: dict[str, int] = {}  # their send times (timestamp_ms)

    @initialize(indexed_first=st.booleans())
    def start(self, indexed_first: bool) -> None:
        if indexed_first:  # a dead-letter queue indexes before any message; else take does
            self.store.index_ids()

    @rule(delays=st.lists(st.sampled_from([0, 0, 1, 2, 5]), min_size=1, max_size=8))
    def enqueue(self, delays: list[int]) -> None:
        batch = []
        for delay in delays:
            msg_id = f"m{next(self.ids)}"
            body = "x" * (len(msg_id) + delay)
            batch.append(StoredMessage(msg_id, self.now, "text", body, self.now + delay))
            self.sizes[msg_id] = len(body)
            self.stamps[msg_id] = batch[-1].timestamp_ms
            if delay == 0:
                self.ready.append(msg_id)
            else:
                self.delayed[msg_id] = (self.now + delay, next(self.sent))
        self.store.enqueue(batch, self.now)

    @rule(count=st.integers(1, 8), delay=st.sampled_from([0, 0, 2]))
    def send_batch(self, count: int, delay: int) -> None:
        """What ``sendBatch`` hands the store: messages sharing one send and due time (a
        second after the previous send, so that send times differ)."""
        self.now += 1
        ids = [f"m{next(self.ids)}" for _ in range(count)]
        payloads = [b'{"n":%d}' % i for i in range(count)]
        batch = stored_messages(ids, self.now, "json", payloads, self.now + delay)
        for msg in batch:
            self.sizes[msg.id] = len(msg.payload)
            self.stamps[msg.id] = msg.timestamp_ms
            if delay == 0:
                self.ready.append(msg.id)
            else:
                self.delayed[msg.id] = (self.now + delay, next(self.sent))
        self.store.enqueue(batch, self.now)

    @rule(seconds=st.sampled_from([0, 1, 3]))
    def promote(self, seconds: int) -> None:
        self.now += seconds
        due = sorted((v, k) for k, v in self.delayed.items() if v[0] <= self.now)
        for _, msg_id in due:
            del self.delayed[msg_id]
            self.ready.append(msg_id)
        assert self.store.promote(self.now) == len(due)

    @rule(limit=st.integers(1, 6))
    def lease(self, limit: int) -> None:
        out = self.store.lease(limit)
        assert [m.id for m in out] == self.ready[:limit]
        del self.ready[:limit]
        self.flying.update((m.id, m) for m in out)
        if out:
            self.leases.append(out)

    @rule(limit=st.integers(1, 12))
    def deliver_and_ack(self, limit: int) -> None:
        """A push delivery whose every message is acked: a lease settled whole at once."""
        out = self.store.lease(limit)
        assert [m.id for m in out] == self.ready[:limit]
        del self.ready[:limit]
        for msg in out:
            del self.sizes[msg.id]
        self.store.settle(out, [], self.now)

    @rule(data=st.data())
    def settle_a_whole_lease(self, data: st.DataObject) -> None:
        """What a delivery whose every message was acked does: the lease itself finished
        (the store drops it at once, unless single messages moved since)."""
        whole = [out for out in self.leases if all(self.flying.get(m.id) is m for m in out)]
        if not whole:
            return
        out = data.draw(st.sampled_from(whole))
        self.leases.remove(out)
        for msg in out:
            del self.flying[msg.id]
            del self.sizes[msg.id]
        self.store.settle(out, [], self.now)

    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        if not self.flying:
            return
        chosen = data.draw(st.lists(st.sampled_from(sorted(self.flying)), unique=True))
        finished, retried = [], []
        for msg_id in chosen:
            msg = self.flying.pop(msg_id)
            if data.draw(st.booleans()):
                finished.append(msg)
                del self.sizes[msg_id]
            else:
                retried.append((msg, self.now))
                self.ready.append(msg_id)
        self.store.settle(finished, retried, self.now)

    @rule()
    def ack_every_lease(self) -> None:
        """The common outcome: everything in flight acked."""
        finished = list(self.flying.values())
        for msg in finished:
            del self.sizes[msg.id]
        self.flying.clear()
        self.store.settle(finished, [], self.now)

    @rule(front=st.booleans())
    def unlease(self, front: bool) -> None:
        back = list(self.flying.values())
        self.flying.clear()
        ids = [m.id for m in back]
        self.ready = ids + self.ready if front else self.ready + ids
        self.store.unlease(back, self.now, front=front)

    @rule(data=st.data())
    def take(self, data: st.DataObject) -> None:
        known = [*sorted(self.sizes), "nope"]
        wanted = data.draw(st.lists(st.sampled_from(known), max_size=12))
        taken = self.store.take(wanted)
        expected = [
            i
            for i in dict.fromkeys(wanted)
            if i in self.delayed or i in self.ready  # not in flight, not unknown
        ]
        assert [m.id for m in taken] == expected
        for msg_id in expected:
            self.delayed.pop(msg_id, None)
            if msg_id in self.ready:
                self.ready.remove(msg_id)
            del self.sizes[msg_id]

    @invariant()
    def agrees(self) -> None:
        store = self.store
        delayed = [k for _, k in sorted((v, k) for k, v in self.delayed.items())]
        assert (store.ready_count, store.delayed_count, store.in_flight_count) == (
            len(self.ready),
            len(self.delayed),
            len(self.flying),
        )
        assert [m.id for m in store.iter_ready()] == self.ready
        assert [m.id for m in store.iter_delayed()] == delayed
        assert [m.id for m in store.iter_in_flight()] == list(self.flying)
        assert store.backlog_bytes == sum(self.sizes.values())
        live = [self.stamps[msg_id] for msg_id in self.sizes]
        assert store.oldest_timestamp_ms() == (min(live) if live else None)
        assert store.next_due() == (self.delayed[delayed[0]][0] if delayed else None)
        assert (store.ready_since() is None) == (not self.ready)
        for start, limit in ((0, 3), (2, 4), (5, 50)):
            assert [m.id for m in store.page(READY, start, limit)] == self.ready[
                start : start + limit
            ]
            assert [m.id for m in store.page(DELAYED, start, limit)] == delayed[
                start : start + limit
            ]
            assert [m.id for m in store.page(IN_FLIGHT, start, limit)] == list(self.flying)[
                start : start + limit
            ]
        every = [m.id for m in page_across(store, [IN_FLIGHT, READY, DELAYED], 0, 10_000)]
        assert sorted(every) == sorted([*self.flying, *self.ready, *delayed])


TestTake = TakeMachine.TestCase
TestTake.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def _guard(monkeypatch: pytest.MonkeyPatch, store: object) -> None:
    """Make every way of walking ``store``'s messages fail (its other queues unaffected)."""
    cls = type(store)
    for name in ("lease", "promote", "iter_ready", "iter_delayed", "page", "unlease", "settle"):
        original = getattr(cls, name)

        def refuse(self: object, *args: Any, _original: Any = original, **kw: Any) -> Any:
            if self is store:
                raise AssertionError("a selective redrive walked the dead-letter queue")
            return _original(self, *args, **kw)

        monkeypatch.setattr(cls, name, refuse)


@pytest.mark.anyio
@pytest.mark.parametrize("persisted", [False, True], ids=["memory", "persisted"])
async def test_a_selective_move_looks_messages_up_instead_of_walking_the_queue(
    tmp_path: Path, persisted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "q.sqlite"
    broker = Broker(VirtualClock(), TaskTracker(), store_path=path if persisted else None)

    async def never(batch: Any) -> None:
        raise AssertionError("not delivered")

    broker.set_consumer("jobs", ConsumerSettings(dead_letter_queue="dlq"), never)
    broker.pause("jobs")
    dlq = broker.producer("dlq")
    for start in range(0, 2000, 100):
        await dlq.sendBatch([{"body": n} for n in range(start, start + 100)])
    await dlq.sendBatch([{"body": n, "delaySeconds": 600} for n in range(3)])
    ready = [m.id for m in broker.queues["dlq"].peek(["ready"], limit=2000)]
    delayed = [m.id for m in broker.queues["dlq"].peek(["delayed"])]
    picked = [ready[1500], ready[3], delayed[1], ready[700]]

    _guard(monkeypatch, broker._cores["dlq"].store)
    assert broker.move("dlq", "jobs", [*picked, "unknown", ready[3]]) == 4
    monkeypatch.undo()

    jobs = broker.queues["jobs"].peek(["ready"])
    assert [m.id for m in jobs] == picked  # in the order asked
    assert all(m.attempts == 0 for m in jobs)
    left = broker.queues["dlq"]
    assert (left.stats()["depth"], left.stats()["delayed"]) == (1997, 2)
    remaining = [m.id for m in left.peek(["ready", "delayed"], limit=3000)]
    assert remaining == [i for i in ready + delayed if i not in picked]
    await broker.aclose()
    if persisted:  # the move was written: a restart finds the same
        again = Broker(VirtualClock(), TaskTracker(), store_path=path)
        again.declare_queue("dlq")
        again.declare_queue("jobs")
        found = [m.id for m in again.queues["dlq"].peek(["ready", "delayed"], limit=3000)]
        assert found == remaining
        assert len(again.queues["jobs"].peek()) == 4
        await again.aclose()
