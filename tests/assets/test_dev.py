"""``cfemu dev`` serves assets before the Worker, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import httpx
import pytest

from cfemu import Emulator, RealClock
from cfemu.cli.dev import describe, make_server
from tests.assets.conftest import write_files

pytestmark = pytest.mark.anyio


async def test_dev_server_serves_assets_and_the_worker(tmp_path: Path) -> None:
    write_files(tmp_path / "public", {"index.html": "<h1>hi</h1>", "app.js": "x()"})
    (tmp_path / "worker.py").write_text(
        "from workers import Response, WorkerEntrypoint\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n"
        "        await self.env.KV.put('seen', request.url)\n"
        "        return Response('from worker')\n"
    )
    (tmp_path / "wrangler.toml").write_text(
        'name = "site"\nmain = "worker.py"\ncompatibility_date = "2026-01-01"\n'
        '[assets]\ndirectory = "public"\nbinding = "ASSETS"\n'
        '[[kv_namespaces]]\nbinding = "KV"\nid = "kv-1"\n'
    )
    emulator = Emulator.from_config(
        tmp_path / "wrangler.toml", clock=RealClock(), persist_to=tmp_path / "state"
    )
    async with emulator:
        lines = describe(emulator)
        assert any("env.ASSETS" in line and "public" in line for line in lines), lines
        assert any("env.KV (kv-1)" in line and "KV Namespace" in line for line in lines), lines
        server = make_server(emulator, ip="127.0.0.1", port=0, test_scheduled=False)
        serving = asyncio.create_task(server.serve())
        try:
            with anyio.fail_after(10):
                while not server.started:
                    await asyncio.sleep(0)
            port = server.servers[0].sockets[0].getsockname()[1]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                page = await http.get("/")
                script = await http.get("/app.js")
                worker = await http.get("/api")
        finally:
            server.should_exit = True
            await serving
        assert (page.status_code, page.text) == (200, "<h1>hi</h1>")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert (worker.status_code, worker.text) == (200, "from worker")
        assert (await emulator.env.KV.get("seen")).endswith("/api")
