"""Whatever a Worker raises, BaseException included, fails one invocation, never the emulator;
a consumer that runs past its wall-clock limit is a failed attempt (on the virtual clock)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu._contain import contained, watch_signals
from cfemu.errors import WorkerEscapeError

pytestmark = pytest.mark.anyio

TOML = """
name = "w"
main = "worker.py"
compatibility_date = "2026-11-01"
[[queues.producers]]
binding = "JOBS"
queue = "jobs"
[[queues.producers]]
binding = "DLQ"
queue = "jobs-dlq"
[[queues.consumers]]
queue = "jobs"
max_batch_timeout = 0
max_retries = 2
dead_letter_queue = "jobs-dlq"
"""

# RAISE is replaced by the statement each test wants the Worker to run.
WORKER = """
import asyncio
from workers import Response, WorkerEntrypoint

async def work():
    RAISE

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.url.endswith("/later"):
            self.ctx.waitUntil(work())
            return Response("accepted", status=202)
        if request.url.endswith("/boom"):
            RAISE
        await self.env.JOBS.send("job")
        return Response("queued", status=202)

    async def queue(self, batch, env=None, ctx=None):
        if batch.messages[0].body == "later":
            self.ctx.waitUntil(work())
            return
        RAISE

    async def scheduled(self, controller, env=None, ctx=None):
        RAISE
"""

ESCAPES = {
    "SystemExit": "raise SystemExit(3)",
    "KeyboardInterrupt": "raise KeyboardInterrupt",
    "stray CancelledError": "raise asyncio.CancelledError()",
    "BaseException": "raise BaseException('odd')",
}


def emulator_raising(tmp_path: Path, statement: str) -> Emulator:
    (tmp_path / "wrangler.toml").write_text(TOML)
    (tmp_path / "worker.py").write_text(WORKER.replace("RAISE", statement))
    return Emulator.from_config(tmp_path / "wrangler.toml", clock=VirtualClock())


@pytest.mark.parametrize("statement", ESCAPES.values(), ids=ESCAPES.keys())
async def test_a_consumer_raising_any_base_exception_is_retried_then_dead_lettered(
    tmp_path: Path, statement: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with emulator_raising(tmp_path, statement) as emulator:
        with caplog.at_level(logging.ERROR, logger="cfemu.queues"):
            await emulator.env.JOBS.send("job")
            await emulator.drain()
        jobs = emulator.queues["jobs"].stats()
        assert (jobs.delivered, jobs.retried, jobs.dead_lettered) == (3, 2, 1)
        assert len(emulator.queues["jobs-dlq"]) == 1
        # The emulator is still serving after three escapes.
        async with emulator.client() as http:
            assert (await http.post("/")).status_code == 202
    failures = [r for r in caplog.records if "Consumer of queue 'jobs' raised" in r.getMessage()]
    assert len(failures) == 3
    assert "a Worker cannot stop the emulator" in failures[0].getMessage()


@pytest.mark.parametrize("statement", ESCAPES.values(), ids=ESCAPES.keys())
async def test_fetch_raising_any_base_exception_is_a_500(tmp_path: Path, statement: str) -> None:
    async with emulator_raising(tmp_path, statement) as emulator, emulator.client() as http:
        assert (await http.get("/boom")).status_code == 500
        assert (await http.post("/")).status_code == 202


@pytest.mark.parametrize("statement", ESCAPES.values(), ids=ESCAPES.keys())
async def test_waituntil_work_raising_any_base_exception_is_logged_and_contained(
    tmp_path: Path, statement: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with emulator_raising(tmp_path, statement) as emulator, emulator.client() as http:
        with caplog.at_level(logging.ERROR, logger="cfemu.runtime"):
            assert (await http.get("/later")).status_code == 202
            await emulator.drain()
        assert any("waitUntil() task failed" in r.getMessage() for r in caplog.records)
        # From a consumer, the failed waitUntil work fails the invocation: retried, then DLQ.
        await emulator.env.JOBS.send("later")
        await emulator.drain()
        assert emulator.queues["jobs"].stats().dead_lettered == 1


async def test_a_scheduled_handler_raising_system_exit_fails_that_invocation(
    tmp_path: Path,
) -> None:
    async with emulator_raising(tmp_path, "raise SystemExit(0)") as emulator:
        with pytest.raises(WorkerEscapeError, match=r"scheduled\(\) raised SystemExit\(0\)") as e:
            await emulator.worker.scheduled("* * * * *")
        assert isinstance(e.value.__cause__, SystemExit)


async def test_cancelling_a_task_running_worker_code_still_cancels_it(tmp_path: Path) -> None:
    async with emulator_raising(tmp_path, "await asyncio.Event().wait()") as emulator:
        task = asyncio.create_task(emulator.worker.scheduled("* * * * *"))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_contained_passes_cfemus_own_cancellation_and_closing_through() -> None:
    async def cancelled_by_someone_else() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError as exc:
            contained(exc, "w", "fetch()")  # re-raises: the task has a cancellation pending

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(cancelled_by_someone_else())
    with pytest.raises(GeneratorExit):
        contained(GeneratorExit(), "w", "fetch()")
    value_error = ValueError("x")
    assert contained(value_error, "w", "fetch()") is value_error
    stray = contained(asyncio.CancelledError(), "w", "fetch()")
    assert isinstance(stray, WorkerEscapeError) and "CancelledError" in str(stray)


def test_a_real_sigint_is_never_contained(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    original = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        monkeypatch.setattr("cfemu._contain._signalled", False)
        # Before any signal, a KeyboardInterrupt is the Worker's own: contained.
        assert isinstance(contained(KeyboardInterrupt(), "w", "fetch()"), WorkerEscapeError)
        restore = watch_signals()
        signal.raise_signal(signal.SIGINT)
        assert seen == [signal.SIGINT]  # the previous handler still runs
        with pytest.raises(KeyboardInterrupt):
            contained(KeyboardInterrupt(), "w", "fetch()")
        restore()
        assert signal.getsignal(signal.SIGINT) is not original  # ours was replaced by restore
    finally:
        signal.signal(signal.SIGINT, original)


# --- the consumer invocation wall-clock limit ---------------------------------------------


@pytest.mark.parametrize("limit", [None, 10.0])
async def test_a_consumer_that_never_returns_fails_at_the_wall_clock_limit(
    tmp_path: Path, limit: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    async with emulator_raising(tmp_path, "await asyncio.Event().wait()") as emulator:
        if limit is not None:
            emulator.broker.consumer_wall_clock_limit = limit
        expected = limit if limit is not None else 15 * 60.0
        start = emulator.clock.now()
        with caplog.at_level(logging.ERROR, logger="cfemu.queues"):
            await emulator.env.JOBS.send("job")
            await emulator.drain()
        elapsed = emulator.clock.now() - start
        jobs = emulator.queues["jobs"].stats()
        assert (jobs.delivered, jobs.dead_lettered, jobs.in_flight) == (3, 1, 0)
        assert elapsed == pytest.approx(3 * expected)  # three attempts, each ended at the limit
    ended = [r.getMessage() for r in caplog.records if "exceededWallTime" in r.getMessage()]
    assert len(ended) == 3
    assert f"wall-clock limit of {expected:g} s" in ended[0]


async def test_waituntil_work_of_a_consumer_is_ended_with_its_invocation(tmp_path: Path) -> None:
    async with emulator_raising(tmp_path, "await asyncio.Event().wait()") as emulator:
        emulator.broker.consumer_wall_clock_limit = 5
        await emulator.env.JOBS.send("later")
        await emulator.drain()
        assert emulator.queues["jobs"].stats().dead_lettered == 1
        assert not emulator.tracker.tasks  # no waitUntil work left running


async def test_a_consumer_that_swallows_the_cancellation_still_fails_its_attempt(
    tmp_path: Path,
) -> None:
    swallow = (
        "try:\n        await asyncio.Event().wait()\n    except asyncio.CancelledError:\n"
        "        pass"
    )
    source = WORKER.replace("async def work():\n    RAISE", f"async def work():\n    {swallow}")
    emulator = emulator_raising(tmp_path, "await work()")
    (tmp_path / "worker.py").write_text(source.replace("RAISE", "await work()"))
    async with emulator:
        emulator.broker.consumer_wall_clock_limit = 5
        await emulator.env.JOBS.send("job")
        await emulator.drain()
        jobs = emulator.queues["jobs"].stats()
        assert (jobs.delivered, jobs.acked, jobs.dead_lettered) == (3, 0, 1)


async def test_a_consumer_finishing_within_the_limit_is_acked(tmp_path: Path) -> None:
    async with emulator_raising(tmp_path, "await asyncio.sleep(0)") as emulator:
        emulator.broker.consumer_wall_clock_limit = 5
        await emulator.env.JOBS.send("job")
        await emulator.drain()
        jobs = emulator.queues["jobs"].stats()
        assert (jobs.delivered, jobs.acked, jobs.dead_lettered) == (1, 1, 0)
