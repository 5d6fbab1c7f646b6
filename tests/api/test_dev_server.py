"""The API on ``cfemu dev``'s port, beside the Worker, used by the official (sync) SDK."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import httpx
import pytest
from cloudflare import Cloudflare

from cfemu import Emulator, RealClock
from cfemu.cli.dev import make_server

from .conftest import ACCOUNT, project

pytestmark = pytest.mark.anyio


async def test_the_sync_sdk_and_the_worker_share_one_port_and_one_database(
    tmp_path: Path,
) -> None:
    emulator = Emulator.from_config(project(tmp_path), clock=RealClock(), persist_to=tmp_path / "s")
    async with emulator:
        await emulator.env.DB.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        server = make_server(emulator, ip="127.0.0.1", port=0, api_token="secret")
        serving = asyncio.create_task(server.serve())
        try:
            with anyio.fail_after(10):
                while not server.started:
                    await asyncio.sleep(0)
            port = server.servers[0].sockets[0].getsockname()[1]
            base = f"http://127.0.0.1:{port}"

            def script() -> list[object]:
                # A user's script for api.cloudflare.com, with only the base URL changed.
                cf = Cloudflare(api_token="secret", base_url=f"{base}/client/v4")
                cf.d1.database.query(
                    "notes-db",
                    account_id=ACCOUNT,
                    sql="INSERT INTO notes (body) VALUES (?)",
                    params=["from a script"],
                )
                return [db.name for db in cf.d1.database.list(account_id=ACCOUNT)]

            assert await asyncio.to_thread(script) == ["notes-db"]
            async with httpx.AsyncClient(base_url=base) as http:
                assert (await http.get("/")).json() == {"notes": 1}
                refused = await http.get(
                    f"/client/v4/accounts/{ACCOUNT}/d1/database",
                    headers={"Authorization": "Bearer guess"},
                )
                assert refused.status_code == 403
        finally:
            server.should_exit = True
            await serving
