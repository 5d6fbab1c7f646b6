"""The official ``cloudflare`` SDK, pointed at an emulator's API in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cloudflare import AsyncCloudflare

from cfemu import Emulator, VirtualClock
from cfemu.api import api_app

ACCOUNT = "0123456789abcdef0123456789abcdef"

WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        row = await self.env.DB.prepare("SELECT count(*) AS n FROM notes").first()
        return Response.json({"notes": row["n"]})
"""


def project(tmp_path: Path) -> Path:
    """A Worker binding the D1 database ``notes-db`` (id ``notes-id``) and Workers AI."""
    (tmp_path / "worker.py").write_text(WORKER)
    config = tmp_path / "wrangler.toml"
    config.write_text(
        'name = "notes"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
        '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "notes-db"\n'
        'database_id = "notes-id"\n[ai]\nbinding = "AI"\n'
    )
    return config


def sdk(emulator: Emulator, *, api_token: str = "any-token", **options: object) -> AsyncCloudflare:
    """The official SDK, its HTTP going straight to the emulator's API app (no socket)."""
    app = api_app(emulator, **options)  # type: ignore[arg-type]
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    return AsyncCloudflare(
        api_token=api_token,
        base_url="http://cfemu.local/client/v4",
        http_client=http,
        max_retries=0,
    )


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    """A started in-memory emulator of :func:`project`."""
    async with Emulator.from_config(project(tmp_path), clock=VirtualClock()) as emu:
        await emu.env.DB.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        yield emu


@pytest.fixture
def cf(emulator: Emulator) -> AsyncCloudflare:
    """The SDK on :func:`emulator`."""
    return sdk(emulator)
