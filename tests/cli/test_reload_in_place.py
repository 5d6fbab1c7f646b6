"""``reload_workers`` (what ``cfemu dev`` runs on save), in process: the new code answers,
every binding keeps its state, and idle Durable Objects run the reloaded class next."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.cli.reload import reload_workers
from cfemu.errors import WorkerError
from tests.durable_objects.conftest import CONFIG

pytestmark = pytest.mark.anyio

WORKER = """
from workers import DurableObject, Response, WorkerEntrypoint

VERSION = "{version}"

class Counter(DurableObject):
    async def bump(self):
        n = (await self.ctx.storage.get("n") or 0) + 1
        await self.ctx.storage.put("n", n)
        return f"{{VERSION}}:{{n}}"

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        stub = self.env.NS.getByName("one")
        return Response(VERSION + "/" + await stub.bump())
"""


async def test_reload_swaps_the_code_and_keeps_durable_object_storage(tmp_path: Path) -> None:
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    main = tmp_path / "worker.py"
    main.write_text(WORKER.format(version="v1"))
    emulator = Emulator.from_config(tmp_path / "wrangler.toml", clock=VirtualClock())
    async with emulator:
        async with emulator.client() as client:
            assert (await client.get("/")).text == "v1/v1:1"
        env = emulator.env
        main.write_text(WORKER.format(version="v2"))
        assert reload_workers(emulator) == ["w"]
        assert emulator.env is env  # the same bindings, so the same state
        async with emulator.client() as client:  # cfemu dev rebuilds its app the same way
            assert (await client.get("/")).text == "v2/v2:2"  # new code, storage kept

        main.write_text("raise RuntimeError('half-saved')\n")
        with pytest.raises(WorkerError, match="half-saved"):
            reload_workers(emulator)
        async with emulator.client() as client:
            assert (await client.get("/")).text == "v2/v2:3"  # the previous version serves
