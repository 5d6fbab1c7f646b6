"""A pause during a sleep or an event wait: the time spent paused moves its end, as
Cloudflare's engine offsets its timers on resume; ``instances describe`` shows each span's
End and Duration as wrangler does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.cli import main
from tests.workflows.conftest import project

pytestmark = pytest.mark.anyio

SOURCE = """
from workers import WorkflowEntrypoint

WOKE = []
NOW = [None]

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("nap", "1 hour")
        WOKE.append(NOW[0]())
        try:
            await step.wait_for_event("ok", "ok", timeout="1 hour")
        except Exception as exc:
            return type(exc).__name__
        return "got"
"""


def describe(config: Path, state: Path, capsys: pytest.CaptureFixture[str], *more: str) -> str:
    where = ["-c", str(config), "--persist-to", str(state)]
    code = main(["workflows", "instances", "describe", "flow", "p", *where, *more])
    out, _ = capsys.readouterr()
    assert code == 0
    return out


async def test_the_time_paused_moves_a_sleeps_end_and_an_event_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    clock = VirtualClock()
    async with Emulator.from_config(config, clock=clock, persist_to=state) as emulator:
        emulator.worker.module.NOW[0] = clock.now
        t0 = clock.now()
        instance = await emulator.env.FLOW.create(id="p")
        await emulator.advance(20 * 60)  # 20 of the hour's 60 minutes slept
        await instance.pause()
        await emulator.advance(2 * 3600)
        assert (await instance.status())["status"] == "paused"
        assert emulator.worker.module.WOKE == []
        await instance.resume()  # 40 minutes to go
        await emulator.advance(40 * 60 - 1)
        assert emulator.worker.module.WOKE == []
        await emulator.advance(2)
        (woke,) = emulator.worker.module.WOKE
        assert woke == pytest.approx(t0 + 3 * 3600)

        await emulator.advance(10 * 60)  # 10 of the event wait's 60 minutes
        await instance.pause()
        await emulator.advance(1000)
        await instance.resume()
        await emulator.drain()
        assert await instance.status() == {
            "status": "complete",
            "error": None,
            "output": "WorkflowTimeoutError",
        }
        assert clock.now() == pytest.approx(t0 + 3 * 3600 + 3600 + 1000)

    found = json.loads(describe(config, state, capsys, "--json"))
    sleep = next(s for s in found["steps"] if s["type"] == "sleep")
    assert (sleep["start"], sleep["end"]) == (
        iso(t0),
        iso(t0 + 3 * 3600),  # its hour, plus the 2 hours paused
    )
    assert found["end"] == iso(t0 + 3 * 3600 + 3600 + 1000)
    wait = next(s for s in found["steps"] if s["type"] == "waitForEvent")
    assert (wait["start"], wait["end"]) == (iso(t0 + 3 * 3600), found["end"])

    text = describe(config, state, capsys)
    head = text[: text.index("Steps:")]
    assert "End:" in head and "Duration:              1 hour" not in head
    assert "Duration:              4 hours" in head  # 4 h 16 min 40 s, rounded as wrangler
    nap = text[text.index("Name:      nap") :]
    assert "Duration:  3 hours" in nap.split("\n\n")[0]


def iso(seconds: float) -> str:
    from cfemu.workflows.history import iso_ms

    stamp = iso_ms(seconds * 1000)
    assert stamp is not None
    return stamp


async def test_describe_shows_a_running_spans_duration_until_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, state = project(tmp_path, SOURCE), tmp_path / "state"
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emulator:
        await emulator.env.FLOW.create(id="p")
        await emulator.advance(60)
    text = describe(config, state, capsys)
    head = text[: text.index("Steps:")]
    assert "Start:" in head and "End:" not in head and "Duration:" in head
    assert json.loads(describe(config, state, capsys, "--json"))["end"] is None
