"""The live chart's data: each queue's backlog and counter rates between samples taken when
the explorer is asked, over a bounded window."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from cfemu import Emulator
from cfemu.explorer.queue_rates import COUNTERS, RateHistory, sample_forever
from cfemu.queues.service import QueueService

from .test_api import API, error, result

pytestmark = pytest.mark.anyio


async def rates(client: httpx.AsyncClient, queue: str) -> list[dict[str, float]]:
    found = result(await client.get(f"{API}/queues/{queue}/rates"))
    assert found["queue_name"] == queue and found["window_seconds"] == 600
    points: list[dict[str, float]] = found["points"]
    return points


async def test_rates_are_counter_differences_over_the_clock_time_between_samples(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    assert await rates(client, "jobs") == []  # one sample: no rate yet
    await client.post(f"{API}/queues/jobs/pause")
    for i in range(6):
        await emulator.env.JOBS.send({"task": i})
    await emulator.advance(2)
    [first] = await rates(client, "jobs")
    assert first["sent"] == 3.0 and first["acked"] == 0 and first["backlog"] == 6

    await client.post(f"{API}/queues/jobs/resume")
    await emulator.drain()
    await emulator.advance(1)
    clock_now = emulator.clock.now()
    points = await rates(client, "jobs")
    assert len(points) == 2
    elapsed = (points[1]["t_ms"] - points[0]["t_ms"]) / 1000
    assert points[1]["t_ms"] == int(clock_now * 1000)
    assert points[1]["acked"] == pytest.approx(6 / elapsed, rel=1e-3)
    assert points[1]["sent"] == 0 and points[1]["backlog"] == 0
    assert set(COUNTERS) <= set(points[1])
    assert error(await client.get(f"{API}/queues/nope/rates"), 404, 10104)


async def test_the_queue_list_samples_too_and_close_requests_share_a_sample(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    await client.get(f"{API}/queues")
    await emulator.env.JOBS.send({"task": 1})
    await client.get(f"{API}/queues")  # same clock second: no new sample
    await emulator.advance(1)
    [point] = await rates(client, "jobs-dlq")
    assert point["sent"] == 0 and point["backlog"] == 0
    [point] = await rates(client, "jobs")
    assert point["sent"] == 1.0


def test_the_history_keeps_only_its_window() -> None:
    history = RateHistory(window=10, resolution=1)

    class View:
        def __init__(self, sent: int) -> None:
            self.sent = sent

        def stats(self) -> object:
            fields = dict.fromkeys(COUNTERS, 0)
            return type("S", (), {**fields, "sent": self.sent, "backlog": 0})()

    for second in range(30):
        history.sample(float(second), {"q": View(second * 2)})  # type: ignore[dict-item]
        history.sample(second + 0.5, {"q": View(999)})  # type: ignore[dict-item]  # too soon
    points = history.points("q")
    assert [p["t_ms"] for p in points] == [s * 1000 for s in range(20, 30)]  # 19 is the first kept
    assert {p["sent"] for p in points} == {2.0}
    assert history.points("other") == []


async def test_cfemu_devs_sampler_fills_the_history_before_the_page_asks(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    await client.post(f"{API}/queues/jobs/pause")
    sampler = asyncio.create_task(sample_forever(emulator.service(QueueService)))
    try:
        await asyncio.sleep(0)  # the first sample, at once
        await emulator.env.JOBS.sendBatch([{"body": i} for i in range(4)])
        await emulator.advance(2)  # two more, a second apart
    finally:
        sampler.cancel()
    points = await rates(client, "jobs")  # the explorer reads the same history
    assert [(p["sent"], p["backlog"]) for p in points] == [(4.0, 4), (0.0, 4)]
