"""A store that cannot write (disk full, I/O error): a refused send leaves nothing behind, a
lease that cannot be written is not an attempt, and nothing an accepted send queued is lost or
duplicated. Failures are injected at ``COMMIT`` (where SQLite reports ``SQLITE_FULL``);
``test_tmpfs.py`` fills a real file system."""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.compat import resolve
from cfemu.errors import QueueSendError
from cfemu.queues import Broker, ConsumerSettings, MessageBatch
from cfemu.queues.sqlite_store import SqliteStore
from tests.queues.harness import Harness

ERRORS: list[Callable[[], Exception]] = [
    lambda: sqlite3.OperationalError("database or disk is full"),
    lambda: OSError(errno.ENOSPC, "No space left on device"),
    lambda: sqlite3.OperationalError("disk I/O error"),
]


class FailingConnection:
    """Forwards to a real connection; ``COMMIT`` raises while ``fail()`` says so."""

    def __init__(self, conn: sqlite3.Connection, fail: Callable[[], bool], error: Any) -> None:
        self._conn = conn
        self._fail = fail
        self._error = error
        self.failures = 0

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT" and self._fail():
            self.failures += 1
            raise self._error()
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def inject(
    store: SqliteStore, fail: Callable[[], bool], error: Any = ERRORS[0]
) -> FailingConnection:
    assert store._conn is not None
    conn = FailingConnection(store._conn, fail, error)
    store._conn = conn  # type: ignore[assignment]
    return conn


def countdown(n: int) -> Callable[[], bool]:
    """Fail the next ``n`` commits."""
    left = [n]

    def fail() -> bool:
        left[0] -= 1
        return left[0] >= 0

    return fail


def rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT payload, attempts, leased FROM messages ORDER BY seq"
        ).fetchall()


def persisted_harness(path: Path) -> Harness:
    h = Harness()
    h.broker = Broker(h.clock, h.tracker, h.faults, store_path=path)
    return h


def sqlite_store(h: Harness) -> SqliteStore:
    store = h.broker.store
    assert isinstance(store, SqliteStore)
    return store


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = persisted_harness(tmp_path / "queues.sqlite")
    yield harness
    store = sqlite_store(harness)
    if not store.closed:
        store._conn = getattr(store._conn, "_conn", store._conn)
        store.close()


@pytest.mark.anyio
@pytest.mark.parametrize("error", ERRORS)
async def test_a_send_whose_commit_fails_raises_and_leaves_nothing_behind(
    h: Harness, tmp_path: Path, error: Callable[[], Exception]
) -> None:
    path = tmp_path / "queues.sqlite"
    inject(sqlite_store(h), countdown(2), error)
    producer = h.broker.producer("q", compat=resolve("2026-03-11"))  # errors without codes
    with pytest.raises(QueueSendError, match=r"^Queue send failed: Internal Server Error$") as info:
        await producer.send({"n": 1})
    assert info.value.status == 500
    assert "cannot write queue state" in str(info.value.__cause__)
    with pytest.raises(QueueSendError, match=r"^Queue sendBatch failed: Internal Server Error$"):
        await producer.sendBatch([{"body": 2}, {"body": 3}])
    view = h.broker.queues["q"]
    assert (len(view), view.stats().sent, sqlite_store(h).pending) == (0, 0, 0)
    assert rows(path) == []
    await producer.send({"n": 4})  # the disk writes again
    await h.run_tasks()
    assert [m.body for m in view.messages()] == [{"n": 4}]
    assert rows(path) == [(b'{"n":4}', 0, 0)]
    assert sqlite_store(h).writable  # a refused send alone pauses nothing


@pytest.mark.anyio
async def test_a_refused_send_is_never_delivered_nor_written_later(
    h: Harness, tmp_path: Path
) -> None:
    seen: list[Any] = []

    async def handler(batch: MessageBatch) -> None:
        seen.extend(m.body for m in batch.messages)

    h.consume("q", handler, max_batch_timeout=0)
    inject(sqlite_store(h), countdown(1))
    with pytest.raises(QueueSendError):
        await h.broker.producer("q").send("refused")
    await h.broker.producer("q").send("accepted")
    await h.drain()
    assert seen == ["accepted"]
    await h.broker.aclose()
    again = SqliteStore(tmp_path / "queues.sqlite", h.clock)
    assert again.open_queue("q").ready_count == 0
    again.close()


@pytest.mark.anyio
async def test_a_lease_that_cannot_be_written_is_not_an_attempt_and_delivery_resumes_with_backoff(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[tuple[list[int], float]] = []

    async def handler(batch: MessageBatch) -> None:
        calls.append(([m.attempts for m in batch.messages], h.clock.now()))

    producer = h.broker.producer("q")
    await producer.sendBatch([{"body": i} for i in range(3)])
    store = sqlite_store(h)
    conn = inject(store, countdown(3))  # the lease's commit and its first two retries
    start = h.clock.now()
    with caplog.at_level(logging.WARNING, logger="cfemu.queues"):
        h.consume("q", handler, max_batch_timeout=0, max_retries=0)
        await h.run_tasks()
        assert calls == [] and not store.writable
        view = h.broker.queues["q"]
        assert [(m.body, m.attempts) for m in view.ready()] == [(0, 0), (1, 0), (2, 0)]
        stats = view.stats()
        assert (stats.delivered, stats.batches, stats.failed_batches) == (0, 0, 0)
        await h.drain()
    assert conn.failures == 3
    # retried after 0.1 s, 0.2 s, 0.4 s of the emulator's clock, then delivered, once
    assert calls == [([1, 1, 1], pytest.approx(start + 0.7))]
    stats = view.stats()
    assert (stats.acked, stats.delivered, stats.dropped, stats.backlog) == (3, 3, 0, 0)
    assert "its attempt could not be written" in caplog.text
    assert "writable again" in caplog.text
    await store.flush()
    assert rows(store.path) == []


@pytest.mark.anyio
async def test_an_ack_that_cannot_be_written_is_retried_until_it_is(h: Harness) -> None:
    seen: list[tuple[int, int]] = []
    store = sqlite_store(h)
    failing = [False]

    async def handler(batch: MessageBatch) -> None:
        seen.extend((m.body, m.attempts) for m in batch.messages)
        if batch.messages[0].body == 1:
            failing[0] = True  # the disk fills while the handler runs: its ack cannot commit

    inject(store, lambda: failing[0])
    h.consume("q", handler, max_batch_timeout=0, max_batch_size=1)
    await h.broker.producer("q").sendBatch([{"body": 1}, {"body": 2}])
    await h.run_tasks()
    assert seen == [(1, 1)] and not store.writable
    assert [(p, a, leased) for p, a, leased in rows(store.path)] == [(b"1", 1, 1), (b"2", 0, 0)]
    for _ in range(5):  # retries keep failing: message 2 waits, message 1 stays acked
        h.clock.fire_next()
        await h.run_tasks()
    assert seen == [(1, 1)] and len(h.broker.queues["q"]) == 1
    failing[0] = False
    await h.drain()
    assert seen == [(1, 1), (2, 1)]
    await store.flush()
    assert rows(store.path) == []


@pytest.mark.anyio
async def test_closing_while_the_disk_is_full_keeps_every_accepted_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "queues.sqlite"
    clock = VirtualClock()
    broker = Broker(clock, TaskTracker(), store_path=path)
    await broker.producer("q").sendBatch([{"body": i} for i in range(3)])
    seen: list[int] = []

    async def handler(batch: MessageBatch) -> None:
        seen.extend(m.body for m in batch.messages)

    store = broker.store
    assert isinstance(store, SqliteStore)
    inject(store, lambda: bool(seen))  # full once the first batch ran: its ack never commits
    broker.set_consumer("q", ConsumerSettings(max_batch_timeout=0), handler)
    await broker.tracker.wait_idle()
    with caplog.at_level(logging.ERROR, logger="cfemu.queues"):
        await broker.aclose()
    assert "could not be written on close" in caplog.text
    assert seen == [0, 1, 2]
    # The file has the last committed state: the batch in flight, attempt counted, so the
    # next run redelivers it (at least once), nothing lost.
    assert rows(path) == [(b"0", 1, 1), (b"1", 1, 1), (b"2", 1, 1)]


# --- a property: random commit failures never lose or duplicate an accepted message ---------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    failures=st.lists(st.booleans(), min_size=1, max_size=40),
    sends=st.lists(st.integers(1, 4), min_size=1, max_size=12),
)
def test_random_commit_failures_lose_and_duplicate_nothing(
    tmp_path_factory: pytest.TempPathFactory, failures: list[bool], sends: list[int]
) -> None:
    import asyncio

    path = tmp_path_factory.mktemp("disk") / "queues.sqlite"
    asyncio.run(_random_failures(path, failures, sends))


async def _random_failures(path: Path, failures: list[bool], sends: list[int]) -> None:
    h = persisted_harness(path)
    store = sqlite_store(h)
    plan = iter(failures)
    inject(store, lambda: next(plan, False))
    attempts: dict[int, list[int]] = {}

    async def handler(batch: MessageBatch) -> None:
        for msg in batch.messages:
            attempts.setdefault(msg.body, []).append(msg.attempts)
            if msg.body % 3 == 0 and msg.attempts == 1:
                msg.retry()  # one retry for every third body

    h.consume("q", handler, max_batch_size=3, max_batch_timeout=1, max_retries=5)
    producer = h.broker.producer("q")
    accepted: set[int] = set()
    refused: set[int] = set()
    body = 0
    for size in sends:
        bodies = list(range(body, body + size))
        body += size
        try:
            await producer.sendBatch([{"body": b} for b in bodies])
        except QueueSendError:
            refused.update(bodies)
        else:
            accepted.update(bodies)
        await h.run_tasks()
    await h.drain()
    assert not refused & set(attempts), "a refused message was delivered"
    assert set(attempts) == accepted, "an accepted message was lost"
    for b, seen in attempts.items():
        expected = [1, 2] if b % 3 == 0 else [1]
        assert seen == expected, f"message {b}: deliveries {seen}"  # no phantom attempts
    stats = h.broker.queues["q"].stats()
    assert (stats.sent, stats.acked, stats.dropped) == (len(accepted), len(accepted), 0)
    plan = iter(())  # the disk has room again for the last commit
    await h.broker.aclose()
    assert rows(path) == []


@pytest.mark.anyio
async def test_a_pull_whose_lease_cannot_be_written_fails_and_counts_no_attempt(
    h: Harness,
) -> None:
    from cfemu.queues.pull import PullSettings
    from cfemu.queues.store import StoreWriteError

    pull = h.broker.set_pull_consumer("q", PullSettings())
    await h.broker.producer("q").sendBatch([{"body": 1}, {"body": 2}])
    inject(sqlite_store(h), countdown(1))
    with pytest.raises(StoreWriteError, match="cannot write queue state"):
        await pull.pull()
    view = h.broker.queues["q"]
    assert [(m.body, m.attempts, m.state) for m in view.messages()] == [
        (1, 0, "ready"),
        (2, 0, "ready"),
    ]
    assert (pull.leased, view.stats().delivered) == (0, 0)
    with pytest.raises(StoreWriteError, match="pull again later"):
        await pull.pull()  # the unwritten unlease is still pending: nothing is leased
    h.clock.fire_next()  # the store's retry writes it
    await h.run_tasks()
    [first, second] = await pull.pull()
    assert (first.attempts, second.attempts) == (1, 1)


@pytest.mark.anyio
async def test_an_emulator_drain_on_a_full_disk_says_the_state_cannot_be_written(
    project: Path, tmp_path: Path
) -> None:
    from cfemu import Emulator
    from cfemu.errors import DrainError
    from cfemu.queues.service import QueueService

    record: list[Any] = []

    async def block() -> None:
        return None

    async with Emulator.from_config(
        project,
        persist_to=tmp_path / "state",
        clock=VirtualClock(),
        extra_vars={"RECORD": record, "BLOCK": block},
    ) as emu:
        await emu.env.JOBS.send({"n": 1})
        broker = emu.service(QueueService).broker
        assert broker is not None and isinstance(broker.store, SqliteStore)
        inject(broker.store, lambda: True)  # full from now on: the lease never commits
        with pytest.raises(DrainError, match=r"queues\.sqlite \(cannot be written; delivery"):
            await emu.drain(max_steps=20)
        assert record == []  # the handler never ran under an unwritten attempt
        broker.store._conn = broker.store._conn._conn  # type: ignore[union-attr]  # room again
        await emu.drain()
        assert [(q, n, attempts) for q, _, n, attempts in record] == [("jobs", 1, 1)]
