"""The SQLite message store: durability points, group commits, format checks, and a model
property — whatever was committed reopens as exactly the broker's live state."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.errors import StateError
from cfemu.queues import Broker, ConsumerSettings, MessageBatch
from cfemu.queues.sqlite_store import APPLICATION_ID, SqliteStore
from cfemu.queues.store import DELAYED, IN_FLIGHT, StoredMessage


def rows(path: Path) -> list[tuple[object, ...]]:
    """What another process would read from the file right now."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT queue, attempts, leased FROM messages ORDER BY seq").fetchall()


def make_broker(path: Path, clock: VirtualClock | None = None) -> Broker:
    return Broker(clock or VirtualClock(), TaskTracker(), store_path=path)


@pytest.mark.anyio
async def test_a_message_is_on_disk_when_send_returns(tmp_path: Path) -> None:
    path = tmp_path / "queues.sqlite"
    broker = make_broker(path)
    producer = broker.producer("q")
    await producer.send("one")
    assert rows(path) == [("q", 0, 0)]
    await producer.sendBatch([{"body": i} for i in range(3)])
    assert len(rows(path)) == 4
    await broker.aclose()


@pytest.mark.anyio
async def test_concurrent_sends_share_one_commit(tmp_path: Path) -> None:
    broker = make_broker(tmp_path / "queues.sqlite")
    store = broker.store
    assert isinstance(store, SqliteStore)
    producer = broker.producer("q")
    before = store.commits
    await asyncio.gather(*(producer.send(i) for i in range(50)))
    assert store.commits == before + 1
    assert len(rows(tmp_path / "queues.sqlite")) == 50
    await broker.aclose()


@pytest.mark.anyio
async def test_the_attempt_is_durable_before_the_handler_runs(tmp_path: Path) -> None:
    path = tmp_path / "queues.sqlite"
    broker = make_broker(path)
    seen: list[list[tuple[object, ...]]] = []

    async def handler(batch: MessageBatch) -> None:
        seen.append(rows(path))

    broker.set_consumer("q", ConsumerSettings(max_batch_timeout=0), handler)
    await broker.producer("q").sendBatch([{"body": 1}, {"body": 2}])
    await broker.tracker.wait_idle()
    assert seen == [[("q", 1, 1), ("q", 1, 1)]]
    await broker.store.flush()
    assert rows(path) == []  # acked: deleted once the ack's commit ran
    await broker.aclose()


@pytest.mark.anyio
async def test_a_closed_store_refuses_new_messages(tmp_path: Path) -> None:
    broker = make_broker(tmp_path / "queues.sqlite")
    producer = broker.producer("q")
    await broker.aclose()
    with pytest.raises(StateError, match="is closed"):
        await producer.send("late")


@pytest.mark.anyio
async def test_text_with_lone_surrogates_is_persisted(tmp_path: Path) -> None:
    # sqlite3 cannot bind such a str: the send used to hang and poison every later commit.
    path = tmp_path / "queues.sqlite"
    broker = make_broker(path)
    producer = broker.producer("q")
    await asyncio.wait_for(producer.send("a\ud800", contentType="text"), 5)
    await asyncio.wait_for(producer.send("next", contentType="text"), 5)
    assert len(rows(path)) == 2
    await broker.aclose()


@pytest.mark.anyio
async def test_a_value_sqlite_cannot_bind_fails_the_flush_instead_of_hanging(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "queues.sqlite", VirtualClock())
    queue = store.open_queue("q")
    queue.enqueue([StoredMessage("a" * 32, 0, "text", "\ud800", 0.0)], 0.0)
    with pytest.raises(StateError, match="cannot write queue state"):
        await asyncio.wait_for(store.flush(), 5)
    assert store._conn is not None and not store._conn.in_transaction
    assert store.pending == 1  # kept, nothing half-written
    store._ops.clear()
    store.close()


def test_a_file_from_another_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "queues.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE things (x)")
    with pytest.raises(StateError, match="is not a cfemu queue state file"):
        SqliteStore(path, VirtualClock())


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "queues.sqlite"
    path.write_bytes(b"this is not a database, just some text that is long enough" * 20)
    with pytest.raises(StateError, match="is not a cfemu queue state file"):
        SqliteStore(path, VirtualClock())


def test_an_older_format_without_a_migration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "queues.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute("CREATE TABLE messages (x)")
    with pytest.raises(StateError, match=r"format 0, which this cfemu .* cannot migrate"):
        SqliteStore(path, VirtualClock())


def test_synchronous_must_be_a_sqlite_level(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be"):
        SqliteStore(tmp_path / "q.sqlite", VirtualClock(), synchronous="SOMETIMES")  # type: ignore[arg-type]


def test_full_synchronous_mode_is_accepted(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.sqlite", VirtualClock(), synchronous="FULL")
    assert store._conn is not None
    assert store._conn.execute("PRAGMA synchronous").fetchone() == (2,)
    store.close()
    store.close()  # idempotent


def test_transitions_outside_an_event_loop_wait_for_commit(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    clock = VirtualClock()
    store = SqliteStore(path, clock)
    queue = store.open_queue("q")
    queue.enqueue([StoredMessage("b" * 32, 0, "text", "hi", clock.now() + 5)], clock.now())
    assert store.pending == 1 and rows(path) == []
    store.commit()
    assert rows(path) == [("q", 0, 0)]
    store.close()
    again = SqliteStore(path, clock)
    [msg] = again.open_queue("q").iter_delayed()
    assert (msg.id, msg.payload, msg.due) == ("b" * 32, "hi", clock.now() + 5)
    again.close()


def test_a_reopened_queue_counts_the_bytes_of_its_ready_and_in_flight_messages_apart(
    tmp_path: Path,
) -> None:
    """A message in flight when the store closed stays in flight on reopening; leasing and
    acking the ready ones then leaves exactly its bytes in the backlog."""
    path = tmp_path / "q.sqlite"
    clock = VirtualClock()
    store = SqliteStore(path, clock)
    queue = store.open_queue("q")
    now = clock.now()
    queue.enqueue([StoredMessage("a" * 32, now, "text", "flying", now)], now)
    queue.lease(1)
    queue.enqueue([StoredMessage("b" * 32, now, "text", "ready!!", now)], now)
    store.commit()
    store.close()
    again = SqliteStore(path, clock)
    queue = again.open_queue("q")
    assert (queue.in_flight_count, queue.ready_count, queue.backlog_bytes) == (1, 1, 13)
    leased = queue.lease(10)
    assert [m.id for m in leased] == ["b" * 32]
    queue.settle(leased, [], clock.now())
    assert (queue.in_flight_count, queue.ready_count, queue.backlog_bytes) == (1, 0, 6)
    again.close()


# --- the model property ---------------------------------------------------------------------

# One step: ("send", count, delay), ("advance", seconds) or ("check",). Bodies say what the
# consumer does with them: 0 ack, 1 retry (with a delay), 2 raise, 3 take 30 s of work.
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("send"),
            st.lists(st.integers(0, 3), min_size=1, max_size=6),
            st.sampled_from([0, 0, 5, 60]),
        ),
        st.tuples(st.just("advance"), st.sampled_from([0.5, 1, 7, 31, 90])),
        st.tuples(st.just("check")),
    ),
    max_size=25,
)


def _due(msg: StoredMessage) -> float | None:
    """A delayed message's due time (a ready one's ``due`` is when it became ready)."""
    return msg.due if msg.state == DELAYED else None


def _live(broker: Broker) -> dict[str, set[tuple[str, int, float | None, bool]]]:
    out: dict[str, set[tuple[str, int, float | None, bool]]] = {}
    for name in broker:
        store = broker._cores[name].store
        msgs = [*store.iter_ready(), *store.iter_delayed(), *store.iter_in_flight()]
        out[name] = {(m.id, m.attempts, _due(m), m.state == IN_FLIGHT) for m in msgs}
    return out


def _reopened(
    path: Path, clock: VirtualClock, names: list[str]
) -> dict[str, set[tuple[str, int, float | None, bool]]]:
    store = SqliteStore(path, clock)
    try:
        out = {}
        for name in names:
            q = store.open_queue(name)
            msgs = [*q.iter_ready(), *q.iter_delayed(), *q.iter_in_flight()]
            out[name] = {(m.id, m.attempts, _due(m), m.state == IN_FLIGHT) for m in msgs}
        return out
    finally:
        store.close()


async def _scenario(path: Path, script: list[tuple[object, ...]]) -> None:
    clock = VirtualClock()
    broker = make_broker(path, clock)

    async def handler(batch: MessageBatch) -> None:
        for msg in batch.messages:
            kind = msg.body
            if kind == 1:
                msg.retry(delaySeconds=10)
            elif kind == 2:
                raise RuntimeError("boom")
            elif kind == 3:
                await clock.sleep(30)

    broker.declare_queue("dlq")
    broker.set_consumer(
        "q",
        ConsumerSettings(
            max_batch_size=4, max_batch_timeout=1, max_retries=1, dead_letter_queue="dlq"
        ),
        handler,
    )
    producer = broker.producer("q")
    store = broker.store
    assert isinstance(store, SqliteStore)

    async def settle() -> None:
        for _ in range(1000):
            await asyncio.sleep(0)
            if len(broker.tracker) <= clock.sleepers and not store.pending:
                return

    async def advance(seconds: float) -> None:
        target = clock.now() + seconds
        while True:
            await settle()
            deadline = clock.next_deadline()
            if deadline is None or deadline > target:
                break
            clock.advance_to(deadline)
        clock.advance_to(target)
        await settle()

    for step in script:
        if step[0] == "send":
            _, kinds, delay = step
            assert isinstance(kinds, list)
            await producer.sendBatch([{"body": k, "delaySeconds": delay} for k in kinds])
        elif step[0] == "advance":
            assert isinstance(step[1], float | int)
            await advance(step[1])
        store.commit()  # everything so far committed: a crash now must lose nothing
        if step[0] == "check":
            assert _reopened(path, clock, ["q", "dlq"]) == _live(broker)
    store.commit()
    assert _reopened(path, clock, ["q", "dlq"]) == _live(broker)
    broker.closed = True  # a "crash": nothing more is written
    store._ops.clear()
    store.close()
    await broker.tracker.aclose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=steps)
def test_committed_state_reopens_as_the_live_state(script: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_scenario(Path(tmp) / "queues.sqlite", script))


def test_a_commit_left_pending_by_a_closed_event_loop_is_written_by_the_next_flush(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite"
    clock = VirtualClock()
    store = SqliteStore(path, clock)
    queue = store.open_queue("q")

    async def transition_only() -> None:  # schedules a commit, returns before it runs
        queue.enqueue([StoredMessage("c" * 32, 0, "text", "x", clock.now())], clock.now())

    loop = asyncio.new_event_loop()
    loop.run_until_complete(transition_only())
    loop.close()  # with the commit callback still scheduled on it
    assert store.pending == 1
    asyncio.run(asyncio.wait_for(store.flush(), timeout=5))
    assert store.pending == 0 and rows(path) == [("q", 0, 0)]
    store.close()
