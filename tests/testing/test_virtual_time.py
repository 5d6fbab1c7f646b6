"""Virtual time as a public API: what Workers read follows the emulator's clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cfemu import CfemuError, Emulator
from cfemu.clock import VirtualClock

pytestmark = [pytest.mark.anyio, pytest.mark.cfemu_config("project/wrangler.toml")]


async def test_the_fixture_runs_on_a_virtual_clock(emulator: Emulator) -> None:
    assert isinstance(emulator.clock, VirtualClock)
    before = emulator.clock.now()
    await emulator.advance(3600)
    assert emulator.clock.now() == before + 3600


async def test_message_timestamps_are_the_clocks_send_time(emulator: Emulator) -> None:
    await emulator.advance(123)
    sent_at = emulator.clock.now_ms()
    await emulator.env.JOBS.send({"job": "t"})
    await emulator.advance(50)  # the 1 s batch timeout falls due on the way
    row = await emulator.env.DB.prepare("SELECT sent_at FROM done").first()
    assert row["sent_at"] == sent_at
    assert emulator.clock.now_ms() == sent_at + 50_000


async def test_advance_delivers_exactly_what_falls_due(emulator: Emulator) -> None:
    await emulator.env.JOBS.send({"job": "later"}, delaySeconds=60)
    await emulator.advance(59)
    assert emulator.queues["jobs"].stats().delayed == 1
    await emulator.advance(2)  # due at 60 s, then the 1 s batch timeout
    assert emulator.queues["jobs"].stats().acked == 1


async def test_drain_jumps_over_retry_delays_without_sleeping(emulator: Emulator) -> None:
    start = emulator.clock.now()
    await emulator.env.JOBS.send({"job": "poison-pill"})  # the Worker always retries it
    await emulator.drain()
    dead = await emulator.env.DB.prepare("SELECT * FROM dead").first()
    assert dict(dead) == {"job": "poison-pill", "attempts": 1}
    assert emulator.queues["jobs"].stats().dead_lettered == 1
    assert emulator.clock.now() - start >= 3  # three batch timeouts of 1 s, virtual


async def test_scheduled_time_follows_the_clock(emulator: Emulator) -> None:
    await emulator.advance(300)
    controller = await emulator.worker.scheduled("*/5 * * * *")
    assert controller.scheduledTime == emulator.clock.now_ms()
    when = datetime(2026, 6, 1, tzinfo=UTC)
    await emulator.worker.scheduled("*/5 * * * *", scheduled_time=when)
    rows = await emulator.env.DB.prepare("SELECT scheduled_time FROM ticks").raw()
    assert rows == [[emulator.clock.now_ms()], [int(when.timestamp() * 1000)]]


async def test_d1_durations_follow_the_clock(emulator: Emulator) -> None:
    result = await emulator.env.DB.prepare("SELECT count(*) FROM done").all()
    assert result["meta"]["duration"] == 0.0  # virtual time stands still during a statement


async def test_advance_needs_a_virtual_clock() -> None:
    config = Path(__file__).parent / "project" / "wrangler.toml"
    async with Emulator.from_config(config) as real:
        with pytest.raises(CfemuError, match="VirtualClock"):
            await real.advance(1)
