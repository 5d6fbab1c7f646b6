"""Emulator as a demanding user sees it: drain()/advance() under virtual and real time,
lifecycle (restart, double close, failed start), and how Env is assembled."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from cfemu import ConfigError, DrainError, Emulator, VirtualClock
from cfemu.clock import RealClock
from cfemu.errors import CfemuError, WorkerError
from cfemu.queues import ConsumerSettings, MessageBatch

pytestmark = pytest.mark.anyio


def project(tmp_path: Path, toml: str, main: str | None = None, dev_vars: str = "") -> Path:
    (tmp_path / "wrangler.toml").write_text(toml)
    if main is not None:
        (tmp_path / "worker.py").write_text(main)
    if dev_vars:
        (tmp_path / ".dev.vars").write_text(dev_vars)
    return tmp_path / "wrangler.toml"


QUEUE_TOML = """
name = "w"
main = "worker.py"
[[queues.producers]]
binding = "Q"
queue = "q"
[[queues.producers]]
binding = "IDLE"
queue = "nobody-consumes"
[[queues.consumers]]
queue = "q"
max_batch_timeout = 5
"""

EMPTY_WORKER = """
from workers import WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def queue(self, batch, env=None, ctx=None):
        pass
"""


def emulator_for(tmp_path: Path, **kwargs: Any) -> Emulator:
    config = project(tmp_path, QUEUE_TOML, EMPTY_WORKER)
    kwargs.setdefault("clock", VirtualClock())
    return Emulator.from_config(config, **kwargs)


def attach(emulator: Emulator, queue: str, handler: Any, **settings: Any) -> Any:
    emulator.broker.declare_queue(queue)
    emulator.broker.set_consumer(queue, ConsumerSettings(**settings), handler)
    return emulator.broker.producer(queue)


# -- drain() under the virtual clock ------------------------------------------------------


async def test_drain_runs_handlers_that_sleep_on_virtual_time_while_batches_time_out(
    tmp_path: Path,
) -> None:
    async with emulator_for(tmp_path) as emulator:
        clock = emulator.clock
        start = clock.now()
        done: list[tuple[str, float]] = []

        async def slow(batch: MessageBatch) -> None:
            await clock.sleep(100)  # virtual work time
            done.extend((m.body, clock.now() - start) for m in batch.messages)

        producer = attach(emulator, "slow", slow, max_batch_size=1, max_batch_timeout=5)
        other = attach(emulator, "other", slow, max_batch_size=10, max_batch_timeout=7)
        await producer.send("a")
        await other.send("b")
        await emulator.drain()
        assert sorted(done) == [("a", 100.0), ("b", 107.0)]
        assert emulator.queues["slow"].stats().acked == 1
        assert emulator.queues["other"].stats().acked == 1


WAIT_UNTIL_WORKER = """
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        async def later():
            await self.env.SLEEP(30)  # virtual work time (the test passes clock.sleep)
            await self.env.Q.send("from waitUntil")

        self.ctx.waitUntil(later())
        return Response("accepted", status=202)

    async def queue(self, batch, env=None, ctx=None):
        pass
"""


async def test_drain_waits_for_wait_until_work_that_sleeps_on_virtual_time(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    config = project(tmp_path, QUEUE_TOML, WAIT_UNTIL_WORKER)
    emulator = Emulator.from_config(config, clock=clock, extra_vars={"SLEEP": clock.sleep})
    async with emulator:
        start = clock.now()
        async with emulator.client() as client:
            assert (await client.get("/")).status_code == 202
        assert emulator.queues["q"].stats().sent == 0
        await emulator.drain()
        assert emulator.queues["q"].stats().acked == 1
        assert clock.now() - start == 35.0  # 30 s of work, then the 5 s batch timeout


async def test_drain_returns_with_messages_kept_on_a_queue_without_consumer(
    tmp_path: Path,
) -> None:
    async with emulator_for(tmp_path) as emulator:
        await emulator.env.IDLE.send("kept")
        await emulator.env.IDLE.send("kept too", delaySeconds=60)
        await emulator.drain(max_seconds=5)
        view = emulator.queues["nobody-consumes"]
        assert view.stats().backlog == 2
        metrics = await emulator.env.IDLE.metrics()
        assert metrics["backlogCount"] == 2


async def test_drain_jumps_over_an_hour_long_send_delay(tmp_path: Path) -> None:
    async with emulator_for(tmp_path) as emulator:
        start = emulator.clock.now()
        await emulator.env.Q.send("late", delaySeconds=3600)
        real = time.monotonic()
        await emulator.drain()
        assert time.monotonic() - real < 5
        assert emulator.queues["q"].stats().acked == 1
        assert emulator.clock.now() - start == 3605.0


async def test_drain_handles_a_handler_waiting_on_an_event_set_by_another_task(
    tmp_path: Path,
) -> None:
    async with emulator_for(tmp_path) as emulator:
        ready = asyncio.Event()
        clock = emulator.clock

        async def setter() -> None:
            await clock.sleep(10)
            ready.set()

        async def waits(batch: MessageBatch) -> None:
            await ready.wait()

        producer = attach(emulator, "ev", waits, max_batch_timeout=0)
        await producer.send("x")
        emulator.tracker.spawn(setter())
        await emulator.drain()
        assert ready.is_set()
        assert emulator.queues["ev"].stats().acked == 1


async def test_drain_settles_when_handlers_raise(tmp_path: Path) -> None:
    async with emulator_for(tmp_path) as emulator:

        async def boom(batch: MessageBatch) -> None:
            raise RuntimeError("boom")

        producer = attach(emulator, "boom", boom, max_batch_timeout=0, max_retries=2)
        await producer.send("x")
        await emulator.drain()
        stats = emulator.queues["boom"].stats()
        assert (stats.delivered, stats.retried, stats.dropped) == (3, 2, 1)


async def test_drain_stops_a_runaway_producer_quickly_with_a_useful_message(
    tmp_path: Path,
) -> None:
    async with emulator_for(tmp_path) as emulator:
        producer = emulator.broker.producer("spin")

        async def resend(batch: MessageBatch) -> None:
            await producer.send("again", delaySeconds=1)

        attach(emulator, "spin", resend, max_batch_timeout=0)
        await producer.send("start")
        real = time.monotonic()
        with pytest.raises(DrainError) as caught:
            await emulator.drain(max_steps=500)
        assert time.monotonic() - real < 10
        message = str(caught.value)
        assert "did not settle after 500 steps" in message
        assert "spin" in message and "keeps sending" in message


async def test_drain_is_bounded_in_real_time_when_a_handler_never_finishes(
    tmp_path: Path,
) -> None:
    async with emulator_for(tmp_path) as emulator:
        never = asyncio.get_running_loop().create_future()

        async def stuck(batch: MessageBatch) -> None:
            await never

        emulator.broker.consumer_wall_clock_limit = None  # else it fails after 15 minutes
        producer = attach(emulator, "stuck", stuck, max_batch_timeout=0)
        await producer.send("x")
        with pytest.raises(DrainError, match=r"within 0.2 s of real time.*stuck \(.*in_flight=1"):
            await emulator.drain(max_seconds=0.2)


async def test_drain_before_start_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CfemuError, match="not started"):
        await emulator_for(tmp_path).drain()


# -- advance() ----------------------------------------------------------------------------


async def test_advance_delivers_only_what_falls_due_and_ends_exactly_on_time(
    tmp_path: Path,
) -> None:
    async with emulator_for(tmp_path) as emulator:
        clock = emulator.clock
        start = clock.now()
        got: list[tuple[str, float]] = []

        async def record(batch: MessageBatch) -> None:
            got.extend((m.body, clock.now() - start) for m in batch.messages)

        producer = attach(emulator, "t", record, max_batch_timeout=0)
        await producer.send("at 10", delaySeconds=10)
        await producer.send("at 25", delaySeconds=25)
        await emulator.advance(9.5)
        assert got == [] and clock.now() - start == 9.5
        await emulator.advance(0.5)
        assert got == [("at 10", 10.0)] and clock.now() - start == 10.0
        await emulator.advance(14.999)
        assert len(got) == 1
        await emulator.advance(0.001)
        assert [b for b, _ in got] == ["at 10", "at 25"]
        assert clock.now() - start == pytest.approx(25.0)
        await emulator.advance(0)
        assert clock.now() - start == pytest.approx(25.0)


async def test_advance_backwards_is_an_error(tmp_path: Path) -> None:
    async with emulator_for(tmp_path) as emulator:
        before = emulator.clock.now()
        with pytest.raises(ValueError, match="backwards"):
            await emulator.advance(-1)
        assert emulator.clock.now() == before


async def test_advance_needs_a_virtual_clock(tmp_path: Path) -> None:
    async with emulator_for(tmp_path, clock=RealClock()) as emulator:
        with pytest.raises(CfemuError, match="VirtualClock"):
            await emulator.advance(1)


# -- drain() under the real clock ---------------------------------------------------------


async def test_real_clock_drain_waits_for_in_flight_work(tmp_path: Path) -> None:
    async with emulator_for(tmp_path, clock=RealClock()) as emulator:
        finished: list[str] = []

        async def slowish(batch: MessageBatch) -> None:
            for _ in range(20):
                await asyncio.sleep(0)
            finished.extend(m.body for m in batch.messages)

        producer = attach(emulator, "r", slowish, max_batch_timeout=0)
        await producer.sendBatch([{"body": "a"}, {"body": "b"}])
        await emulator.drain(max_seconds=5)
        assert finished == ["a", "b"]
        assert emulator.queues["r"].stats().acked == 2


# -- lifecycle ----------------------------------------------------------------------------


async def test_an_emulator_can_be_entered_again_after_it_closed(tmp_path: Path) -> None:
    emulator = emulator_for(tmp_path)
    async with emulator:
        await emulator.env.Q.send("first life")
        await emulator.drain()
    async with emulator:
        assert emulator.queues["q"].stats().sent == 0  # fresh in-memory state
        await emulator.env.Q.send("second life")
        await emulator.drain()
        assert emulator.queues["q"].stats().acked == 1


async def test_aclose_twice_is_harmless(tmp_path: Path) -> None:
    emulator = emulator_for(tmp_path, persist_to=tmp_path / "state")
    await emulator.start()
    await emulator.aclose()
    await emulator.aclose()
    async with emulator_for(tmp_path, persist_to=tmp_path / "state"):
        pass  # the lock was released


async def test_queue_stats_stay_readable_after_close(tmp_path: Path) -> None:
    async with emulator_for(tmp_path) as emulator:
        await emulator.env.Q.send("x")
        await emulator.env.IDLE.send("y")
        await emulator.drain()
    assert emulator.queues["q"].stats().acked == 1
    assert emulator.queues["nobody-consumes"].stats().backlog == 1


async def test_using_env_or_client_before_start_is_a_clear_error(tmp_path: Path) -> None:
    emulator = emulator_for(tmp_path)
    with pytest.raises(CfemuError, match="not started"):
        _ = emulator.env
    with pytest.raises(CfemuError, match="not started"):
        emulator.client()
    with pytest.raises(CfemuError, match="not started"):
        emulator.client("w")
    with pytest.raises(CfemuError, match="not started"):
        _ = emulator.queues


async def test_an_unknown_worker_name_is_a_clear_error(tmp_path: Path) -> None:
    async with emulator_for(tmp_path) as emulator:
        with pytest.raises(WorkerError, match=r"no Worker named 'nope'; Workers: \['w'\]"):
            emulator.client("nope")
        with pytest.raises(WorkerError, match="no Worker named 'nope'"):
            emulator.asgi("nope")
        with pytest.raises(WorkerError, match="no Worker named 'nope'"):
            emulator.database("DB", worker="nope")


async def test_a_failed_start_leaves_nothing_behind_and_a_later_start_works(
    tmp_path: Path,
) -> None:
    config = project(tmp_path, QUEUE_TOML, "import does_not_exist_anywhere\n")
    state = tmp_path / "state"
    emulator = Emulator.from_config(config, clock=VirtualClock(), persist_to=state)
    tasks_before = asyncio.all_tasks()
    with pytest.raises(WorkerError):
        await emulator.start()
    assert asyncio.all_tasks() == tasks_before
    with pytest.raises(CfemuError, match="not started"):
        _ = emulator.env
    (tmp_path / "worker.py").write_text(EMPTY_WORKER)
    async with emulator:
        await emulator.env.Q.send("x")
        await emulator.drain()
        assert emulator.queues["q"].stats().acked == 1


async def test_two_unnamed_configs_are_a_clear_config_error(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "wrangler.toml").write_text('compatibility_date = "2026-01-01"\n')
    (tmp_path / "b" / "wrangler.toml").write_text('compatibility_date = "2026-01-01"\n')
    with pytest.raises(ConfigError, match=r"same Worker name.*'worker'.*set 'name'") as caught:
        Emulator.from_configs([tmp_path / "a" / "wrangler.toml", tmp_path / "b" / "wrangler.toml"])
    assert str(tmp_path / "b" / "wrangler.toml") in str(caught.value)


async def test_a_consumer_without_main_is_a_clear_worker_error(tmp_path: Path) -> None:
    config = project(tmp_path, 'name = "c"\n[[queues.consumers]]\nqueue = "q"\n')
    emulator = Emulator.from_config(config, clock=VirtualClock())
    with pytest.raises(WorkerError, match="'c' consumes queues but has no 'main'"):
        await emulator.start()


# -- env ----------------------------------------------------------------------------------


async def test_env_layers_vars_then_dev_vars_then_extra_vars(tmp_path: Path) -> None:
    toml = """
name = "e"
[vars]
ONLY_VAR = "v"
BOTH = "from vars"
ALL = "from vars"
LIMITS = { max = 3, tags = ["a", "b"], nested = { ok = true } }
COUNT = 7
"""
    config = project(tmp_path, toml, dev_vars='BOTH="from secrets"\nALL="from secrets"\n')
    emulator = Emulator.from_config(
        config, clock=VirtualClock(), extra_vars={"ALL": "from extra", "EXTRA": 1}
    )
    async with emulator:
        env = emulator.env
        assert env.ONLY_VAR == "v"
        assert env.BOTH == "from secrets"
        assert env.ALL == "from extra"
        assert env.EXTRA == 1
        assert env.COUNT == 7
        limits = env.LIMITS
        assert limits == {"max": 3, "tags": ["a", "b"], "nested": {"ok": True}}
        assert type(limits) is dict and type(limits["tags"]) is list
        assert type(limits["nested"]) is dict


async def test_entering_a_started_emulator_again_is_an_error_not_a_silent_close(
    tmp_path: Path,
) -> None:
    async with emulator_for(tmp_path) as emulator:
        with pytest.raises(CfemuError, match="already started"):
            async with emulator:
                pass
        await emulator.env.Q.send("still running")
        await emulator.drain()
        assert emulator.queues["q"].stats().acked == 1
