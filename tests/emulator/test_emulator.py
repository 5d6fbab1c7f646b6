"""The Emulator end to end: two Workers sharing a queue and a D1 database by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu import ConfigError, DrainError, Emulator, VirtualClock
from cfemu.errors import CfemuError, StateError

pytestmark = pytest.mark.anyio
PROJECT = Path(__file__).parent / "project"


def two_workers(**kwargs: object) -> Emulator:
    return Emulator.from_configs(
        [PROJECT / "front.toml", PROJECT / "back.toml"], clock=VirtualClock(), **kwargs
    )


async def test_front_worker_produces_and_back_worker_consumes() -> None:
    async with two_workers() as emulator:
        assert await emulator.apply_migrations("DB") == ["0001_jobs.sql"]
        async with emulator.client() as client:
            created = await client.post("/jobs", json={"payload": "hello"})
            assert created.status_code == 202
            job_id = created.json()["id"]
            assert (await client.get(f"/jobs/{job_id}")).json()["status"] == "pending"
            await emulator.drain()
            job = (await client.get(f"/jobs/{job_id}")).json()
        assert job["status"] == "done" and job["attempts"] == 1
        stats = emulator.queues["jobs"].stats()
        assert (stats.sent, stats.acked, stats.backlog) == (1, 1, 0)


async def test_shared_database_is_one_database_for_both_workers() -> None:
    async with two_workers() as emulator:
        front_db = emulator.workers["front"].env.DB
        back_db = emulator.workers["back"].env.DB
        assert front_db is back_db


async def test_failing_job_is_retried_with_delays_then_dead_lettered_without_sleeping() -> None:
    clock = VirtualClock()
    async with Emulator.from_configs(
        [PROJECT / "front.toml", PROJECT / "back.toml"], clock=clock
    ) as emulator:
        await emulator.apply_migrations("DB")
        start = clock.now()
        async with emulator.client() as client:
            job_id = (await client.post("/jobs", json={"payload": "fail"})).json()["id"]
            await emulator.drain()
            job = (await client.get(f"/jobs/{job_id}")).json()
        # 3 deliveries (max_retries = 2), then the DLQ consumer records it with attempts = 1
        assert job["status"] == "dead" and job["attempts"] == 1
        stats = emulator.queues["jobs"].stats()
        assert (stats.delivered, stats.retried, stats.dead_lettered) == (3, 2, 1)
        # two retry delays of 60 s plus batch timeouts passed in virtual time only
        assert clock.now() - start >= 120


async def test_advance_delivers_only_what_falls_due() -> None:
    async with two_workers() as emulator:
        await emulator.apply_migrations("DB")
        await emulator.env.JOBS.send({"id": 0, "payload": "x"})
        await emulator.advance(1.0)
        assert emulator.queues["jobs"].stats().delivered == 0  # batch timeout is 2 s
        await emulator.advance(1.0)
        assert emulator.queues["jobs"].stats().delivered == 1


async def test_drain_refuses_to_run_forever() -> None:
    async with two_workers() as emulator:
        await emulator.apply_migrations("DB")

        async def forever(batch: object) -> None:
            await emulator.workers["front"].env.JOBS.send({"id": 0, "payload": "again"})

        emulator.broker.declare_queue("loop")
        from cfemu.queues import ConsumerSettings

        producer = emulator.broker.producer("loop")

        async def resend(batch: object) -> None:
            await producer.send("again")

        emulator.broker.set_consumer("loop", ConsumerSettings(max_batch_timeout=0), resend)
        await producer.send("start")
        with pytest.raises(DrainError, match="did not settle after 50 steps"):
            await emulator.drain(max_steps=50)


async def test_missing_binding_names_the_ones_that_exist() -> None:
    async with two_workers() as emulator:
        with pytest.raises(AttributeError, match="JOBS"):
            _ = emulator.workers["back"].env.JOBS
        assert emulator.workers["back"].env.RETRY_DELAY == 60


async def test_two_consumers_for_one_queue_is_a_config_error(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('name = "other"\nmain = "w.py"\n[[queues.consumers]]\nqueue = "jobs"\n')
    with pytest.raises(
        ConfigError, match='Multiple consumers defined for queue "jobs": "back" and "other"'
    ):
        Emulator.from_configs([PROJECT / "back.toml", other])


async def test_using_an_emulator_before_start_is_a_clear_error() -> None:
    emulator = two_workers()
    with pytest.raises(CfemuError, match="not started"):
        _ = emulator.env


async def test_persisted_folder_is_locked_against_a_second_emulator(tmp_path: Path) -> None:
    async with two_workers(persist_to=tmp_path):
        with pytest.raises(StateError, match="in use by another cfemu process"):
            async with two_workers(persist_to=tmp_path):
                pass
    async with two_workers(persist_to=tmp_path):
        pass


async def test_d1_data_survives_a_restart_with_persistence(tmp_path: Path) -> None:
    async with two_workers(persist_to=tmp_path) as emulator:
        await emulator.apply_migrations("DB")
        await emulator.env.DB.prepare(
            "INSERT INTO jobs (payload, status) VALUES ('kept', 'done')"
        ).run()
    async with two_workers(persist_to=tmp_path) as emulator:
        assert await emulator.pending_migrations("DB") == []
        row = await emulator.env.DB.prepare("SELECT payload FROM jobs").first()
        assert row == {"payload": "kept"}


async def test_cron_triggers_fire_on_schedule_once_started() -> None:
    project = Path(__file__).parent.parent / "cli" / "project"
    clock = VirtualClock(start=1_767_225_600.0 + 30)  # 2026-01-01T00:00:30Z
    async with Emulator.from_config(project / "wrangler.toml", clock=clock) as emulator:
        await emulator.apply_migrations("DB")
        emulator.start_crons()  # "* * * * *": every minute, on the minute
        await emulator.advance(29)
        assert await emulator.env.DB.prepare("SELECT count(*) AS n FROM notes").first("n") == 0
        await emulator.advance(1 + 120)
        rows = await emulator.env.DB.prepare("SELECT note FROM notes").raw()
    assert rows == [["cron * * * * *"]] * 3


async def test_faults_name_the_queues_and_databases_that_exist() -> None:
    async with two_workers() as emulator:
        with pytest.raises(ValueError, match=r"no queue named 'job' .*known: jobs, jobs-dlq"):
            emulator.faults.queue_send("job")
        with pytest.raises(ValueError, match=r"no D1 binding named 'D1' .*known: DB"):
            emulator.faults.d1_statement("D1")
