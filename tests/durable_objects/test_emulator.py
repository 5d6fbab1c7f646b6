"""Durable Objects through the Emulator: config → service → env → Worker (and back)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.durable_objects.namespace import DurableObjectNamespace
from cfemu.durable_objects.service import DurableObjectsService
from cfemu.durable_objects.tools import list_durable_object_ids

pytestmark = pytest.mark.anyio

WORKER = """
from urllib.parse import urlparse
from workers import DurableObject, Response, WorkerEntrypoint


class Counter(DurableObject):
    async def increment(self, n=1):
        value = (await self.ctx.storage.get("n") or 0) + n
        await self.ctx.storage.put("n", value)
        return value

    async def remind(self, seconds):
        now = await self.ctx.storage.get("now") or 0
        await self.ctx.storage.setAlarm(seconds * 1000)

    async def alarm(self, info):
        await self.ctx.storage.put("alarmed", info.scheduledTime)

    async def alarmed(self):
        return await self.ctx.storage.get("alarmed")


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        name = urlparse(request.url).path.strip("/")
        value = await self.env.COUNTER.getByName(name).increment()
        return Response(str(value))
"""

CONFIG = """
name = "front"
main = "worker.py"
compatibility_date = "2026-11-01"
compatibility_flags = ["python_workers"]

[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Counter"]
"""

OTHER = """
name = "other"
main = "other.py"
compatibility_date = "2026-11-01"

[[durable_objects.bindings]]
name = "REMOTE"
class_name = "Counter"
script_name = "front"
"""

OTHER_WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(str(await self.env.REMOTE.getByName("shared").increment(10)))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    (tmp_path / "other.py").write_text(OTHER_WORKER)
    (tmp_path / "other.toml").write_text(OTHER)
    return tmp_path


async def test_requests_reach_one_object_per_name(project: Path) -> None:
    async with Emulator.from_config(project / "wrangler.toml", clock=VirtualClock()) as emu:
        async with emu.client() as client:
            texts = [(await client.get(f"/{n}")).text for n in ("a", "a", "b", "a")]
        assert texts == ["1", "2", "1", "3"]
        service = emu.service(DurableObjectsService)
        ns = service.namespace("COUNTER")
        assert isinstance(emu.env.COUNTER, DurableObjectNamespace)
        assert len(list_durable_object_ids(ns)) == 2
        assert ("env.COUNTER (Counter)", "Durable Object", "local") in service.describe(
            emu.configs[0]
        )


async def test_another_worker_reaches_the_same_objects_by_script_name(project: Path) -> None:
    paths = [project / "wrangler.toml", project / "other.toml"]
    async with Emulator.from_configs(paths, clock=VirtualClock()) as emu:
        async with emu.client("other") as client:
            assert (await client.get("/")).text == "10"
        async with emu.client() as client:
            assert (await client.get("/shared")).text == "11"


async def test_drain_fires_alarms_in_virtual_time(project: Path) -> None:
    clock = VirtualClock()
    async with Emulator.from_config(project / "wrangler.toml", clock=clock) as emu:
        stub = emu.env.COUNTER.getByName("a")
        at = clock.now() + 3600
        await stub.remind(at)
        await emu.drain()
        assert clock.now() == at
        assert await stub.alarmed() == at * 1000


async def test_faults_target_classes(project: Path) -> None:
    async with Emulator.from_config(project / "wrangler.toml", clock=VirtualClock()) as emu:
        emu.faults.arm("durable_objects.storage", "Counter", error=lambda: OSError("io"))
        with pytest.raises(Exception, match="io"):
            await emu.env.COUNTER.getByName("a").increment()
        assert await emu.env.COUNTER.getByName("a").increment() == 1
        with pytest.raises(ValueError, match="Nope"):
            emu.faults.arm("durable_objects.alarm", "Nope", error=lambda: OSError())


CHILD = """
import asyncio, os, signal, sys
from cfemu import Emulator

async def main():
    emu = Emulator.from_config(sys.argv[1], persist_to=sys.argv[2])
    await emu.start()
    stub = emu.env.COUNTER.getByName("crash")
    for i in range(int(sys.argv[3])):
        value = await stub.increment()
        os.write(1, f"{value}\\n".encode())  # acknowledged: the caller saw this value
    await stub.remind(int(emu.clock.now()) + 3600)  # pending when the process dies
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


@pytest.mark.slow
async def test_acknowledged_writes_and_a_pending_alarm_survive_sigkill(
    project: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [sys.executable, str(script), str(project / "wrangler.toml"), str(state), "25"],
        capture_output=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    acknowledged = [int(x) for x in proc.stdout.split()]
    assert acknowledged == list(range(1, 26))
    clock = VirtualClock(start=0)
    async with Emulator.from_config(
        project / "wrangler.toml", persist_to=state, clock=clock
    ) as emu:
        stub = emu.env.COUNTER.getByName("crash")
        assert await stub.alarmed() is None
        await emu.drain()  # virtual time reaches the alarm set an hour after the crash
        alarmed = await stub.alarmed()
        assert alarmed is not None and alarmed == clock.now() * 1000
        assert await stub.increment() == 26
