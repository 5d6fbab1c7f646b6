"""Fault injection end to end, through a Worker: sends, D1, AI, consumer crashes; counted."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cfemu import Emulator
from cfemu.clock import VirtualClock
from cfemu.testing import Faults, apply_all_migrations

pytestmark = [pytest.mark.anyio, pytest.mark.cfemu_config("project/wrangler.toml")]
CONFIG = Path(__file__).parent / "project" / "wrangler.toml"


async def _post(client: httpx.AsyncClient, job: str) -> httpx.Response:
    return await client.post("/jobs", json={"job": job})


async def _done(emulator: Emulator) -> dict[str, int]:
    rows = await emulator.env.DB.prepare("SELECT job, attempts FROM done").raw()
    return {job: attempts for job, attempts in rows}


def test_the_public_switchboard_is_the_emulators() -> None:
    emulator = Emulator.from_config(CONFIG, clock=VirtualClock())
    assert isinstance(emulator.faults, Faults)


async def test_next_two_sends_fail_with_too_many_requests_then_pass(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.faults.queue_send("jobs", times=2)
    answers = [await _post(client, f"j{i}") for i in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 202]
    assert answers[0].text == "busy: Too Many Requests (10250)"  # queue_expose_error_codes
    await emulator.drain()
    assert await _done(emulator) == {"j2": 1}  # a failed send enqueued nothing
    stats = emulator.queues["jobs"].stats()
    assert (stats.sent, stats.faults) == (1, 2)
    assert emulator.faults.counts[("queue.send", "jobs")] == 2


async def test_storage_limit_exceeded(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.faults.queue_send("jobs", error="Storage Limit Exceeded")
    answer = await _post(client, "big")
    assert (answer.status_code, answer.text) == (
        503,
        "busy: Storage Limit Exceeded (10251)",
    )


async def test_d1_transient_error_makes_the_consumer_retry_after_its_delay(
    emulator: Emulator,
) -> None:
    start = emulator.clock.now()
    await emulator.env.JOBS.send({"job": "pay"})
    emulator.faults.d1_statement("DB", times=1)  # the consumer's first insert fails
    await emulator.drain()
    assert await _done(emulator) == {"pay": 2}
    stats = emulator.queues["jobs"].stats()
    assert (stats.delivered, stats.retried, stats.acked) == (2, 1, 1)
    assert emulator.faults.counts[("d1.statement", "DB")] == 1
    assert emulator.clock.now() - start >= 30  # RETRY_DELAY, in virtual time only


async def test_d1_errors_carry_d1s_wording(emulator: Emulator) -> None:
    emulator.faults.d1_statement("DB", error="D1 DB is overloaded. Too many requests queued.")
    with pytest.raises(Exception, match=r"^D1_ERROR: D1 DB is overloaded\. Too many requests"):
        await emulator.env.DB.prepare("SELECT 1").all()


async def test_ai_failure_then_recovery(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.faults.ai_run(times=1)
    failed = await client.get("/summary")
    assert failed.status_code == 502
    assert "3040: Capacity temporarily exceeded" in failed.text
    assert (await client.get("/summary")).status_code == 200
    assert emulator.ai.stats().failed == 1
    assert emulator.faults.counts[("ai.run", "@cf/meta/llama-3.1-8b-instruct")] == 1


async def test_consumer_crash_after_two_messages(emulator: Emulator) -> None:
    await emulator.env.JOBS.sendBatch([{"body": {"job": f"j{i}"}} for i in range(5)])
    emulator.faults.consumer_crash("jobs", after=2)
    await emulator.drain()
    done = await _done(emulator)
    # j0, j1 were acked before the crash; j2 was written but its ack() crashed: the batch
    # failed, j2..j4 came back, and the Worker's INSERT OR IGNORE kept j2's first attempt.
    assert done == {"j0": 1, "j1": 1, "j2": 1, "j3": 2, "j4": 2}
    stats = emulator.queues["jobs"].stats()
    assert (stats.batches, stats.failed_batches, stats.faults, stats.retried) == (2, 1, 1, 3)
    assert emulator.faults.counts[("queue.consumer", "jobs")] == 1


async def _run_with_flaky_d1(seed: int, jobs: int) -> tuple[dict[str, int], list[str], int]:
    async with Emulator.from_config(CONFIG, clock=VirtualClock(), faults_seed=seed) as emulator:
        await apply_all_migrations(emulator)
        emulator.faults.d1_statement("DB", times=None, rate=0.4)
        await emulator.env.JOBS.sendBatch([{"body": {"job": f"j{i:02}"}} for i in range(jobs)])
        await emulator.drain()
        emulator.faults.clear()
        done = await _done(emulator)
        dead = [r[0] for r in await emulator.env.DB.prepare("SELECT job FROM dead").raw()]
        assert emulator.queues["jobs"].stats().dead_lettered == len(dead)
        return done, sorted(dead), emulator.faults.total()


async def test_probabilistic_faults_are_seeded_and_every_job_ends_done_or_dead() -> None:
    first = await _run_with_flaky_d1(seed=11, jobs=30)
    assert first == await _run_with_flaky_d1(seed=11, jobs=30)  # same seed, same run
    done, dead, fired = first
    assert fired > 0
    assert set(done) | set(dead) == {f"j{i:02}" for i in range(30)}
    assert all(1 <= attempts <= 3 for attempts in done.values())
    # The DLQ consumer's own writes may hit a fault too; a job never ends both done and dead.
    assert not set(done) & set(dead)
