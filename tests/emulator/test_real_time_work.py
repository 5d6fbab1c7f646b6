"""drain()/advance() on a VirtualClock when the emulator's own work waits in real time.

A Worker's ``asyncio.sleep`` runs on the emulator's clock (Pyodide's event loop sleeps with
``setTimeout``, which the emulator's clock drives), and virtual timers never overtake work
waiting on a thread or on I/O under a timeout. A test's own real-time waits are not the
emulator's and never hold virtual time back.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from cfemu import DrainError, Emulator, VirtualClock
from cfemu.queues import MessageBatch
from tests.emulator.test_emulator_time_and_lifecycle import attach, emulator_for

pytestmark = pytest.mark.anyio


async def test_a_handlers_asyncio_sleep_takes_virtual_time_in_order_with_timers(
    tmp_path: Path,
) -> None:
    async with emulator_for(tmp_path) as emulator:
        clock = emulator.clock
        start = clock.now()
        done: list[tuple[str, float]] = []

        async def sleepy(batch: MessageBatch) -> None:
            await asyncio.sleep(720)  # 12 minutes: far beyond max_seconds in real time
            done.extend((m.body, clock.now() - start) for m in batch.messages)

        async def quick(batch: MessageBatch) -> None:
            done.extend((m.body, clock.now() - start) for m in batch.messages)

        sleeping = attach(emulator, "sleepy", sleepy, max_batch_size=1, max_batch_timeout=0)
        later = attach(emulator, "quick", quick, max_batch_size=1, max_batch_timeout=0)
        await sleeping.send("slept 12 minutes")
        await later.send("due after 10 minutes", delaySeconds=600)
        await emulator.drain(max_seconds=10)
        assert [body for body, _ in done] == ["due after 10 minutes", "slept 12 minutes"]
        assert done[0][1] == 600
        assert done[1][1] == pytest.approx(720, abs=1)
        assert emulator.queues["sleepy"].stats().acked == 1


async def test_concurrent_sleeps_each_end_at_their_own_virtual_time(tmp_path: Path) -> None:
    async with emulator_for(tmp_path) as emulator:
        clock = emulator.clock
        start = clock.now()
        ends: dict[int, float] = {}

        async def nap(seconds: int) -> None:
            await asyncio.sleep(seconds)
            ends[seconds] = clock.now() - start

        async def handler(batch: MessageBatch) -> None:
            await asyncio.gather(*(nap(m.body) for m in batch.messages))

        producer = attach(emulator, "naps", handler, max_batch_size=3, max_batch_timeout=0)
        await producer.sendBatch([{"body": s} for s in (900, 60, 300)])
        await emulator.drain(max_seconds=10)
        assert sorted(ends) == [60, 300, 900]
        for seconds, end in ends.items():
            assert end == pytest.approx(seconds, abs=1)
        assert clock.now() - start == pytest.approx(900, abs=1)


async def test_advance_moves_a_sleep_no_further_than_its_target(tmp_path: Path) -> None:
    async with emulator_for(tmp_path) as emulator:
        woke: list[float] = []
        start = emulator.clock.now()

        async def sleepy(batch: MessageBatch) -> None:
            await asyncio.sleep(100)
            woke.append(emulator.clock.now() - start)

        producer = attach(emulator, "sleepy", sleepy, max_batch_size=1, max_batch_timeout=0)
        await producer.send("x")
        await emulator.advance(50)
        assert woke == []
        assert emulator.clock.now() - start == 50
        await emulator.advance(60)
        assert woke == [pytest.approx(100, abs=1)]
        assert emulator.clock.now() - start == 110


async def test_a_timer_does_not_overtake_a_handler_waiting_on_a_thread(tmp_path: Path) -> None:
    async with emulator_for(tmp_path) as emulator:
        clock = emulator.clock
        start = clock.now()
        events: list[tuple[str, float]] = []

        async def threaded(batch: MessageBatch) -> None:
            await asyncio.to_thread(time.sleep, 0.2)  # real work, off the loop
            events.append(("thread done", clock.now() - start))

        async def quick(batch: MessageBatch) -> None:
            events.append(("delayed delivered", clock.now() - start))

        worker = attach(emulator, "threaded", threaded, max_batch_size=1, max_batch_timeout=0)
        later = attach(emulator, "quick", quick, max_batch_size=1, max_batch_timeout=0)
        await worker.send("x")
        await later.send("y", delaySeconds=1)
        await emulator.drain(max_seconds=10)
        # The thread took no virtual time, and the timer 1 s later waited for it.
        assert events == [("thread done", 0.0), ("delayed delivered", 1.0)]


async def test_a_timer_does_not_overtake_io_under_a_real_timeout(tmp_path: Path) -> None:
    async with emulator_for(tmp_path) as emulator:
        clock = emulator.clock
        events: list[str] = []
        reply = asyncio.Event()  # an answer that never comes, as from a stalled server

        async def calls_out(batch: MessageBatch) -> None:
            try:
                await asyncio.wait_for(reply.wait(), timeout=0.2)
            except TimeoutError:
                events.append("request timed out")

        async def quick(batch: MessageBatch) -> None:
            events.append("delayed delivered")

        worker = attach(emulator, "calls", calls_out, max_batch_size=1, max_batch_timeout=0)
        later = attach(emulator, "quick", quick, max_batch_size=1, max_batch_timeout=0)
        start = clock.now()
        await worker.send("x")
        await later.send("y", delaySeconds=1)
        await emulator.drain(max_seconds=10)
        assert events == ["request timed out", "delayed delivered"]
        assert clock.now() - start == 1


async def test_a_tests_own_real_timers_never_hold_virtual_time(tmp_path: Path) -> None:
    async with emulator_for(tmp_path) as emulator:
        clock = emulator.clock
        start = clock.now()
        seen: list[float] = []

        async def quick(batch: MessageBatch) -> None:
            seen.append(clock.now() - start)

        producer = attach(emulator, "quick", quick, max_batch_size=1, max_batch_timeout=0)
        watcher = asyncio.create_task(asyncio.sleep(3600))  # the test's, not the emulator's
        try:
            await producer.send("y", delaySeconds=600)
            await emulator.drain(max_seconds=10)
            assert seen == [600]
            assert not watcher.done()  # not woken early either
        finally:
            watcher.cancel()


async def test_a_sleep_past_the_consumers_wall_clock_limit_fails_the_attempt(
    tmp_path: Path,
) -> None:
    async with emulator_for(tmp_path) as emulator:

        async def sleepy(batch: MessageBatch) -> None:
            await asyncio.sleep(3600)  # an hour: past a consumer's 15 minutes

        producer = attach(emulator, "sleepy", sleepy, max_batch_size=1, max_batch_timeout=0)
        await producer.send("x")
        await emulator.drain(max_seconds=10)
        stats = emulator.queues["sleepy"].stats()
        assert stats.acked == 0
        assert stats.dropped == 1


async def test_repeated_real_time_sleeps_are_bounded_by_the_step_budget(tmp_path: Path) -> None:
    async with Emulator.from_config(_config(tmp_path), clock=VirtualClock()) as emulator:

        async def forever(batch: MessageBatch) -> None:
            while True:
                await asyncio.sleep(1)

        producer = attach(emulator, "forever", forever, max_batch_size=1, max_batch_timeout=0)
        await producer.send("x")
        with pytest.raises(DrainError, match="did not settle after 500 steps"):
            await emulator.drain(max_steps=500, max_seconds=30)


def _config(tmp_path: Path) -> Path:
    (tmp_path / "wrangler.toml").write_text('name = "w"\n')
    return tmp_path / "wrangler.toml"
