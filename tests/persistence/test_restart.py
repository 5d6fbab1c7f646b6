"""Restarting an emulator on a persisted folder: queues, dead letters, D1 and the lock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu._tasks import TaskTracker
from cfemu.errors import StateError
from cfemu.queues import Broker, ConsumerSettings, MessageBatch
from cfemu.queues.sqlite_store import APPLICATION_ID, SCHEMA_VERSION, SqliteStore
from cfemu.queues.store import StoredMessage
from cfemu.state import StateLock

pytestmark = pytest.mark.anyio


async def _no_wait() -> None:
    return None


def emulator(
    config: Path,
    state: Path,
    clock: VirtualClock | None = None,
    *,
    record: list[tuple[str, str, int, int]] | None = None,
    blocking: bool = False,
) -> Emulator:
    """The project's emulator; with ``blocking``, ``mode: block`` handlers sleep 10 000 s of
    virtual time (in flight until then), else they go straight on."""
    clock = clock if clock is not None else VirtualClock()
    block = (lambda: clock.sleep(10_000)) if blocking else _no_wait
    return Emulator.from_config(
        config,
        persist_to=state,
        clock=clock,
        extra_vars={"RECORD": record if record is not None else [], "BLOCK": block},
    )


async def test_a_one_hour_delay_survives_a_restart_under_the_virtual_clock(
    project: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    async with emulator(project, state) as emu:
        await emu.env.JOBS.send({"n": 1}, delaySeconds=3600)
        await emu.advance(60)
        assert emu.queues["jobs"].stats().delayed == 1
    record: list[tuple[str, str, int, int]] = []
    clock = VirtualClock()  # same start: the due time is absolute on the emulator's clock
    async with emulator(project, state, clock, record=record) as emu:
        [waiting] = emu.queues["jobs"].delayed()
        assert waiting.due is not None and waiting.due.timestamp() == clock.now() + 3600
        await emu.advance(3599)
        assert record == []
        await emu.advance(1)
        assert [(q, n, a) for q, _, n, a in record] == [("jobs", 1, 1)]
        assert record[0][1] == waiting.id
    async with emulator(project, state) as emu:  # acked: gone for good
        assert len(emu.queues["jobs"]) == 0


async def test_ready_messages_sent_before_a_restart_are_delivered_after_it(
    project: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    async with emulator(project, state) as emu:
        emu.broker.declare_queue("unconsumed")
        await emu.broker.producer("unconsumed").sendBatch([{"body": i} for i in range(3)])
    async with emulator(project, state) as emu:
        # a queue the config does not mention keeps its messages on disk, in send order
        assert [m.body for m in emu.broker.declare_queue("unconsumed").ready()] == [0, 1, 2]


async def test_dead_letters_survive_a_restart_with_id_timestamp_and_body(
    project: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    record: list[tuple[str, str, int, int]] = []
    async with emulator(project, state, record=record) as emu:
        await emu.env.JOBS.send({"n": 7, "mode": "fail"})
        await emu.drain()
        sent_id = record[0][1]
        [dead] = emu.queues["jobs-dlq"].ready()
        assert [a for *_, a in record] == [1, 2, 3]  # max_retries = 2
    async with emulator(project, state) as emu:
        assert len(emu.queues["jobs"]) == 0
        [kept] = emu.queues["jobs-dlq"].ready()
        assert (kept.id, kept.timestamp, kept.body, kept.content_type) == (
            sent_id,
            dead.timestamp,
            {"n": 7, "mode": "fail"},
            "json",
        )


async def test_a_batch_in_flight_at_shutdown_counts_as_an_attempt(
    project: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    record: list[tuple[str, str, int, int]] = []
    async with emulator(project, state, record=record, blocking=True) as emu:
        await emu.env.JOBS.send({"n": 1, "mode": "block"})
        await emu.advance(1)
        assert emu.queues["jobs"].stats().in_flight == 1
    # the handler never finished: the next start delivers it again, as attempt 2
    async with emulator(project, state, record=record) as emu:
        await emu.drain()
    assert [a for *_, a in record] == [1, 2]
    assert record[0][1] == record[1][1]


async def _abandon(crashed: Emulator) -> None:
    """Stop a "crashed" emulator's tasks without letting it write anything more."""
    broker = crashed.broker
    store = broker.store
    assert isinstance(store, SqliteStore)
    store._ops.clear()
    store.close()  # later writes raise StateError inside the cancelled tasks
    broker.closed = True
    if crashed._lock is not None:
        crashed._lock.release()
        crashed._lock = None
    await crashed.tracker.aclose()


async def test_a_batch_in_flight_at_a_crash_counts_as_an_attempt(
    project: Path, tmp_path: Path
) -> None:
    """The first process never shuts down: its last commit is what a crash leaves."""
    state = tmp_path / "state"
    record: list[tuple[str, str, int, int]] = []
    crashed = emulator(project, state, record=record, blocking=True)
    await crashed.start()
    try:
        await crashed.env.JOBS.sendBatch(
            [{"body": {"n": 1, "mode": "block"}}, {"body": {"n": 2, "mode": "block"}}]
        )
        await crashed.advance(1)
        assert crashed.queues["jobs"].stats().in_flight == 2
        assert crashed._lock is not None
        crashed._lock.release()  # the lock dies with the process
        with sqlite3.connect(state / "queues.sqlite") as conn:
            rows = conn.execute("SELECT attempts, leased FROM messages").fetchall()
        assert rows == [(1, 1), (1, 1)]  # the lease's attempt was durable before the handler

        async with emulator(project, state, record=record) as emu:
            await emu.drain()
            stats = emu.queues["jobs"].stats()
    finally:
        await _abandon(crashed)
    # message 2 was leased in the same batch, though the handler never reached it
    assert sorted((n, a) for _, _, n, a in record) == [(1, 1), (1, 2), (2, 2)]
    assert (stats.acked, stats.retried, stats.delivered) == (2, 2, 2)


async def test_a_crash_during_the_last_allowed_attempt_dead_letters_the_message(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queues.sqlite"
    clock = VirtualClock()
    first = SqliteStore(path, clock)
    jobs = first.open_queue("jobs")
    jobs.enqueue([StoredMessage("a" * 32, 1.0, "json", b'{"n":1}', clock.now())], clock.now())
    assert [m.attempts for m in jobs.lease(10)] == [1]  # attempt 1 of 1 starts ...
    first.commit()
    # ... and the process dies here. The next one has max_retries = 0:
    seen: list[int] = []

    async def handler(batch: MessageBatch) -> None:
        seen.extend(m.attempts for m in batch.messages)

    tracker = TaskTracker()
    broker = Broker(clock, tracker, store=SqliteStore(path, clock))
    broker.declare_queue("dlq")
    broker.set_consumer("jobs", ConsumerSettings(max_retries=0, dead_letter_queue="dlq"), handler)
    await tracker.wait_idle()
    assert seen == []
    [dead] = broker.queues["dlq"].ready()
    assert (dead.id, dead.body, dead.attempts) == ("a" * 32, {"n": 1}, 0)
    assert dead.timestamp.timestamp() == 1.0
    assert broker.queues["jobs"].stats().dead_lettered == 1
    await broker.aclose()
    assert isinstance(broker.store, SqliteStore)
    broker.store.close()
    first.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT queue, id, attempts FROM messages").fetchall() == [
            ("dlq", "a" * 32, 0)
        ]


async def test_d1_writes_of_a_consumer_survive_a_restart(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with emulator(project, state) as emu:
        await emu.env.DB.exec("CREATE TABLE seen (n INTEGER)")
        await emu.env.DB.prepare("INSERT INTO seen VALUES (?)").bind(42).run()
    async with emulator(project, state) as emu:
        assert await emu.env.DB.prepare("SELECT n FROM seen").first("n") == 42
    assert (state / "d1" / "persist-0001.sqlite").exists()


async def test_a_second_emulator_on_the_same_folder_refuses_and_leaves_the_state_alone(
    project: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    record: list[tuple[str, str, int, int]] = []
    async with emulator(project, state, record=record) as emu:
        await emu.env.JOBS.send({"n": 1}, delaySeconds=60)
        second = emulator(project, state, record=record)
        with pytest.raises(StateError, match=r"in use by another cfemu process \(pid \d+\)"):
            await second.start()
        await emu.advance(60)
    assert [n for _, _, n, _ in record] == [1]  # delivered once, by the first emulator only


async def test_queue_state_from_a_newer_cfemu_is_refused(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "cfemu-state.json").write_text('{"format": 1}')  # the folder is cfemu's
    with sqlite3.connect(state / "queues.sqlite") as conn:
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('created_by', '9.9.9')")
    with pytest.raises(
        StateError, match=rf"format {SCHEMA_VERSION + 1}, written by cfemu 9\.9\.9; this cfemu"
    ):
        async with emulator(project, state):
            pass
    # the refused start released the folder's lock
    StateLock.acquire(state).release()


async def test_shutdown_during_the_last_allowed_attempt_dead_letters_the_message(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queues.sqlite"
    clock = VirtualClock()
    tracker = TaskTracker()
    broker = Broker(clock, tracker, store_path=path)

    async def stuck(batch: MessageBatch) -> None:
        await clock.sleep(10_000)

    broker.set_consumer(
        "jobs", ConsumerSettings(max_batch_timeout=0, max_retries=0, dead_letter_queue="dlq"), stuck
    )
    await broker.producer("jobs").send({"n": 1})
    for _ in range(100):  # let the delivery start (and block in virtual time)
        if clock.sleepers:
            break
        await asyncio.sleep(0)
    assert broker.queues["jobs"].stats().in_flight == 1
    await broker.aclose()
    await tracker.aclose()
    assert broker.queues["jobs"].stats().dead_lettered == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT queue, attempts, leased FROM messages").fetchall() == [
            ("dlq", 0, 0)
        ]


async def test_a_restart_with_fewer_max_retries_dead_letters_spent_messages_undelivered(
    tmp_path: Path,
) -> None:
    from tests.queues.harness import Harness

    path = tmp_path / "queues.sqlite"
    attempts: list[int] = []

    async def fail(batch: MessageBatch) -> None:
        attempts.extend(msg.attempts for msg in batch.messages)
        raise RuntimeError("boom")

    first = Harness()
    first.broker = Broker(first.clock, first.tracker, store_path=path)
    settings = ConsumerSettings(max_retries=5, max_batch_timeout=0, retry_delay=100)
    first.broker.set_consumer("q", settings, fail)
    await first.broker.producer("q").sendBatch([{"body": 1}, {"body": 2}])
    await first.run_tasks()
    await first.advance(100)
    assert attempts == [1, 1, 2, 2]  # both failed twice, waiting 100 s for attempt 3
    await first.broker.aclose()

    attempts.clear()
    second = Harness()
    second.broker = Broker(second.clock, second.tracker, store_path=path)
    second.clock.advance_to(first.clock.now())
    fewer = ConsumerSettings(
        max_retries=1, max_batch_timeout=0, retry_delay=100, dead_letter_queue="dlq"
    )
    second.broker.set_consumer("q", fewer, fail)  # at most 2 deliveries: both are spent
    second.broker.start()
    await second.drain()
    assert attempts == []
    assert [m.body for m in second.broker.queues["dlq"].ready()] == [1, 2]
    stats = second.broker.queues["q"].stats()
    assert (stats.dead_lettered, stats.delivered, stats.batches, stats.backlog) == (2, 0, 0, 0)
    await second.broker.aclose()
