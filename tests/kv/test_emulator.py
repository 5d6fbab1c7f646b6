"""KV through the Emulator: Workers see env.KV, share namespaces by id, persist, fail on cue."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.errors import ConfigError, KvError
from cfemu.kv import namespace_file
from cfemu.kv.service import KvService

pytestmark = pytest.mark.anyio

WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        key = request.url.rsplit("/", 1)[-1]
        if request.method == "PUT":
            await self.env.CACHE.put(key, await request.text(), expirationTtl=120)
            return Response("stored", status=201)
        try:
            value = await self.env.CACHE.get(key)
        except Exception as exc:
            return Response(str(exc), status=503)
        return Response(value or "miss", status=200 if value else 404)
"""


def project(tmp_path: Path, name: str = "app", namespace_id: str = "ns-1") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "worker.py").write_text(WORKER)
    (folder / "wrangler.toml").write_text(
        f'name = "{name}"\nmain = "worker.py"\ncompatibility_date = "2026-01-01"\n'
        f'[[kv_namespaces]]\nbinding = "CACHE"\nid = "{namespace_id}"\n'
    )
    return folder / "wrangler.toml"


async def test_a_worker_stores_and_reads_through_its_binding(tmp_path: Path) -> None:
    clock = VirtualClock()
    async with (
        Emulator.from_config(project(tmp_path), clock=clock) as emulator,
        emulator.client() as client,
    ):
        assert (await client.put("/k/greeting", content="hello")).status_code == 201
        got = await client.get("/k/greeting")
        assert (got.status_code, got.text) == (200, "hello")
        assert await emulator.env.CACHE.get("greeting") == "hello"
        await emulator.advance(120)
        assert (await client.get("/k/greeting")).status_code == 404


async def test_workers_binding_the_same_id_share_one_namespace(tmp_path: Path) -> None:
    configs = [project(tmp_path, "one"), project(tmp_path, "two")]
    async with Emulator.from_configs(configs, clock=VirtualClock()) as emulator:
        await emulator.workers["one"].env.CACHE.put("k", "shared")
        assert await emulator.workers["two"].env.CACHE.get("k") == "shared"
        assert list(emulator.service(KvService).stores) == ["ns-1"]


async def test_persisted_namespace_lives_in_its_file_across_runs(tmp_path: Path) -> None:
    config = project(tmp_path)
    state = tmp_path / "state"
    async with Emulator.from_config(config, persist_to=state, clock=VirtualClock()) as emulator:
        await emulator.env.CACHE.put("k", "kept")
    assert namespace_file(state, "ns-1").exists()
    async with Emulator.from_config(config, persist_to=state, clock=VirtualClock()) as emulator:
        assert await emulator.env.CACHE.get("k") == "kept"


async def test_an_injected_fault_reaches_the_worker(tmp_path: Path) -> None:
    async with (
        Emulator.from_config(project(tmp_path), clock=VirtualClock()) as emulator,
        emulator.client() as client,
    ):
        emulator.faults.kv_op("CACHE", error="500 Internal Server Error")
        failed = await client.get("/k/x")
        assert (failed.status_code, failed.text) == (
            503,
            "KV GET failed: 500 Internal Server Error",
        )
        assert (await client.get("/k/x")).status_code == 404
        with pytest.raises(ValueError, match="no KV binding named 'CACH'"):
            emulator.faults.kv_op("CACH")
        with pytest.raises(KvError):
            emulator.faults.kv_op(times=1)
            await emulator.env.CACHE.delete("x")


async def test_service_namespace_lookup_names_the_bindings(tmp_path: Path) -> None:
    async with Emulator.from_config(project(tmp_path), clock=VirtualClock()) as emulator:
        service = emulator.service(KvService)
        assert await service.namespace("ns-1", emulator.configs[0]).get("none") is None
        with pytest.raises(ConfigError, match="KV bindings: CACHE"):
            service.namespace("OTHER", emulator.configs[0])
