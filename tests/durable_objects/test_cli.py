"""``cfemu durable-objects list|show`` read a state folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.cli import main
from tests.durable_objects.test_emulator import project  # noqa: F401 - fixture

pytestmark = pytest.mark.anyio


async def test_list_and_show_objects_of_a_state_folder(
    project: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "state"
    config = project / "wrangler.toml"
    async with Emulator.from_config(config, persist_to=state, clock=VirtualClock()) as emu:
        stub = emu.env.COUNTER.getByName("a")
        assert await stub.increment(4) == 4
        at = int(emu.clock.now()) + 7200
        await stub.remind(at)
        await emu.env.COUNTER.getByName("b").increment()
        hex_a = stub.id.toString()

    assert main(["do", "list", "-c", str(config), "--persist-to", str(state)]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["binding"], row["class"]) == ("COUNTER", "Counter")
    by_id = {o["id"]: o for o in row["objects"]}
    assert len(by_id) == 2 and by_id[hex_a]["alarm"] == at * 1000
    assert by_id[hex_a]["name"] == "a"  # recorded with the alarm

    args = ["durable-objects", "show", "-c", str(config), "--persist-to", str(state)]
    assert main([*args, "--name", "a"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == hex_a and shown["keys"] == {"n": 4}
    assert main([*args, "--id", "0" * 64]) == 1
    assert "64 hex" not in capsys.readouterr().err  # a well-formed id of another namespace
