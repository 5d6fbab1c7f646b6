"""step.do's dependency forms, step configs, durations and the ``[[workflows]]`` config."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfemu import Emulator, VirtualClock
from cfemu.config import load_config
from cfemu.errors import ConfigError
from cfemu.workflows.durations import parse_duration, parse_step_config
from tests.workflows.conftest import project

pytestmark = pytest.mark.anyio

LEGACY = """
from workers import WorkflowEntrypoint

ORDER = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("dependency 1")
        async def one():
            ORDER.append("one")
            return 1

        @step.do("dependency 2")
        async def two():
            ORDER.append("two")
            return 2

        @step.do("final step", depends=[one, two], concurrent=True)
        async def final(a=None, b=None):
            ORDER.append("final")
            return [a, b, await one()]

        mode = event["payload"]
        if mode == "missing":
            @step.do("bad")
            async def bad(x):
                return x
        if mode == "count":
            @step.do("bad", depends=[one])
            async def bad2(x, y):
                return x
        if mode == "not-a-step":
            @step.do("bad", depends=[len])
            async def bad3(x):
                return x
        return await final()
"""


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("ok", None),
        ("missing", "Step has 1 non-ctx parameter(s) but no 'depends' list provided"),
        ("count", "Step declares 2 non-ctx parameter(s) but 'depends' has 1 item(s)"),
        (
            "not-a-step",
            "'depends' entry for parameter 'x' is not a function decorated with step.do",
        ),
    ],
)
async def test_legacy_depends(tmp_path: Path, mode: str, expected: str | None) -> None:
    config = project(tmp_path, LEGACY, date="2025-11-02")
    async with Emulator.from_config(config, clock=VirtualClock()) as emulator:
        instance = await emulator.env.FLOW.create(params=mode)
        await emulator.drain()
        status = await instance.status()
        if expected is None:
            assert status == {"status": "complete", "output": [1, 2, 1], "error": None}
            assert sorted(emulator.worker.module.ORDER) == ["final", "one", "two"]
            assert emulator.worker.module.ORDER[-1] == "final"
        else:
            assert status == {
                "status": "errored",
                "error": {"name": "TypeError", "message": expected},
                "output": None,
            }


IMPLICIT = """
from workers import WorkflowEntrypoint

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do
        async def fetch_user():
            return {"name": "ana"}

        @step.do("greet")
        async def greet(fetch_user, ctx):
            return "hi " + fetch_user["name"] + " #" + str(ctx["step"]["count"])

        if event["payload"] == "bad":
            @step.do()
            async def oops(nowhere):
                return 1
        return await greet()
"""


async def test_implicit_dependencies_by_parameter_name(tmp_path: Path) -> None:
    config = project(tmp_path, IMPLICIT, date="2026-03-01")
    async with Emulator.from_config(config, clock=VirtualClock()) as emulator:
        good = await emulator.env.FLOW.create(params="good")
        bad = await emulator.env.FLOW.create(params="bad")
        await emulator.drain()
        assert await good.status() == {"status": "complete", "output": "hi ana #1", "error": None}
        assert await bad.status() == {
            "status": "errored",
            "error": {"name": "TypeError", "message": "Received unexpected parameter nowhere"},
            "output": None,
        }


def test_durations_parse_as_cloudflare_writes_them() -> None:
    assert parse_duration(1500) == 1500
    assert parse_duration("10 seconds") == 10_000
    assert parse_duration("1 second") == 1000
    assert parse_duration("5 minutes") == 300_000
    assert parse_duration("1 day") == 86_400_000
    assert parse_duration("2 weeks") == 14 * 86_400_000
    for bad in ("soon", "10 parsecs", -1, True, None, "-3 days"):
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["second", "minute", "hour"]))
def test_a_count_of_units_is_that_many_units(n: int, unit: str) -> None:
    one = parse_duration(f"1 {unit}")
    assert parse_duration(f"{n} {unit}s") == n * one
    assert parse_duration(f"{n} {unit}") == n * one


def test_step_configs_are_checked_strictly() -> None:
    cfg = parse_step_config(
        "s", {"retries": {"limit": 2, "delay": "1 minute", "backoff": "linear"}}
    )
    assert (cfg.limit, cfg.delay_ms, cfg.backoff, cfg.timeout_ms) == (2, 60_000, "linear", 600_000)
    assert [cfg.delay_before_retry(n) for n in (1, 2, 3)] == [60_000, 120_000, 180_000]
    assert parse_step_config("s", None).limit == 5
    assert parse_step_config("s", {"retries": {"limit": math.inf, "delay": 0}}).limit == math.inf
    assert parse_step_config("s", {"sensitive": "output", "timeout": "1 minute"}).timeout_ms == 6e4
    for bad in (
        {"retry": {}},
        {"retries": {"limit": -1, "delay": 10}},
        {"retries": {"limit": 1, "delay": 10, "backoff": "random"}},
        {"retries": {"limit": 1, "delay": "soon"}},
        {"retries": {"limit": 1}},  # Cloudflare's schema: limit and delay go together
        {"retries": {"delay": 1000}},
        {"retries": {"limit": float("nan"), "delay": 1000}},
        {"retries": {"limit": True, "delay": 1000}},
        {"timeout": 0},
        {"timeout": -5},
        {"sensitive": "input"},
        "fast",
    ):
        with pytest.raises(ValueError, match=r'^Step config for "s" is in a invalid format'):
            parse_step_config("s", bad)


def test_workflows_config_entries(tmp_path: Path) -> None:
    config = project(tmp_path, "")
    loaded = load_config(config)
    [entry] = loaded.workflows
    assert (entry.name, entry.binding, entry.class_name, entry.script_name) == (
        "flow",
        "FLOW",
        "Flow",
        None,
    )
    assert entry.limits.steps == 10_000
    assert "FLOW" in loaded.binding_names()
    config.write_text(config.read_text() + '\n[[workflows]]\nname = "x"\nclass_name = "Y"\n')
    with pytest.raises(ConfigError, match=r"workflows\[1\]\.binding"):
        load_config(config)
    config.write_text(config.read_text().replace('name = "x"', 'name = "a b"\nbinding = "B"'))
    with pytest.raises(
        ConfigError, match=r"workflows\[1\]\.name: Workflow name \"a b\" is invalid"
    ):
        load_config(config)
