"""``cfemu queues consumer http add|remove``: pull consumers recorded in the state folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.cli import main

CONFIG = (
    'name = "app"\n[[queues.producers]]\nbinding = "Q"\nqueue = "jobs"\n'
    '[[queues.producers]]\nbinding = "P"\nqueue = "pushed"\n'
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_add_then_the_emulator_serves_pulls_with_those_settings(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "queues", "consumer", "http", "add", "jobs",
                "--batch-size", "2", "--message-retries", "1",
                "--visibility-timeout-secs", "7", "--dead-letter-queue", "jobs-dlq",
            ]
        )
        == 0
    )  # fmt: skip
    assert "Added HTTP pull consumer to queue jobs." in capsys.readouterr().out

    async def check() -> None:
        state = project / ".cfemu" / "state"
        async with Emulator.from_config(
            "wrangler.toml", persist_to=state, clock=VirtualClock()
        ) as emu:
            consumer = emu.broker.pull_consumer("jobs")
            assert consumer is not None
            settings = consumer.settings
            assert (settings.batch_size, settings.max_retries) == (2, 1)
            assert settings.visibility_timeout_ms == 7000
            assert settings.dead_letter_queue == "jobs-dlq"
            for n in range(3):
                await emu.env.Q.send({"n": n})
            assert len(await consumer.pull()) == 2

    import asyncio

    asyncio.run(check())
    assert main(["queues", "consumer", "http", "remove", "jobs"]) == 0
    assert main(["queues", "consumer", "http", "remove", "jobs"]) == 1
    assert 'Queue "jobs" has no HTTP pull consumer' in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], 'Queue "nowhere" does not exist'),
        (["jobs", "--batch-size", "101"], "batch_size must be a whole number from 1 to 100"),
    ],
)
def test_add_refuses_unknown_queues_and_bad_settings(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["queues", "consumer", "http", "add", *args]) == 1
    assert message in capsys.readouterr().err


def test_a_second_pull_consumer_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["queues", "consumer", "http", "add", "pushed"]) == 0
    assert main(["queues", "consumer", "http", "add", "pushed"]) == 1
    assert "already has an HTTP pull consumer" in capsys.readouterr().err
