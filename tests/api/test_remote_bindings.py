"""``remote = true`` bindings, against a second cfemu playing Cloudflare on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from cfemu import Emulator, RealClock, VirtualClock
from cfemu.cli.dev import make_server
from cfemu.errors import ConfigError, D1Error, QueueSendError

pytestmark = pytest.mark.anyio

CLOUD_WORKER = """
from workers import WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def queue(self, batch, env=None, ctx=None):
        for msg in batch.messages:
            await self.env.DB.prepare("INSERT INTO events VALUES (?)").bind(
                msg.body["what"]
            ).run()
"""

LOCAL_WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        what = request.url.rsplit("/", 1)[-1]
        await self.env.EVENTS.send({"what": what})
        count = await self.env.DB.prepare("SELECT count(*) AS n FROM events").first("n")
        answer = await self.env.AI.run("@cf/meta/llama-3.1-8b-instruct", {"prompt": what})
        return Response.json({"events": count, "ai": answer["response"]})
"""


def write(folder: Path, name: str, worker: str, body: str) -> Path:
    folder.mkdir()
    (folder / "worker.py").write_text(worker)
    config = folder / "wrangler.toml"
    config.write_text(f'name = "{name}"\nmain = "worker.py"\n' + body)
    return config


@pytest.fixture
async def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    """A cfemu serving its API on loopback, as Cloudflare would; env vars point at it."""
    config = write(
        tmp_path / "cloud",
        "cloud",
        CLOUD_WORKER,
        '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "prod"\ndatabase_id = "prod-id"\n'
        '[[queues.consumers]]\nqueue = "events"\nmax_batch_timeout = 0\n[ai]\nbinding = "AI"\n',
    )
    emulator = Emulator.from_config(config, clock=RealClock())
    async with emulator:
        await emulator.env.DB.exec("CREATE TABLE events (what TEXT)")
        server = make_server(emulator, ip="127.0.0.1", port=0, api_token="cloud-token")
        serving = asyncio.create_task(server.serve())
        try:
            with anyio.fail_after(10):
                while not server.started:
                    await asyncio.sleep(0)
            port = server.servers[0].sockets[0].getsockname()[1]
            monkeypatch.setenv("CLOUDFLARE_API_BASE_URL", f"http://127.0.0.1:{port}/client/v4")
            monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "a" * 32)
            monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cloud-token")
            yield emulator
        finally:
            server.should_exit = True
            await serving


def local_config(tmp_path: Path) -> Path:
    return write(
        tmp_path / "local",
        "local",
        LOCAL_WORKER,
        '[[d1_databases]]\nbinding = "DB"\ndatabase_id = "prod-id"\nremote = true\n'
        '[[queues.producers]]\nbinding = "EVENTS"\nqueue = "events"\nremote = true\n'
        '[ai]\nbinding = "AI"\nremote = true\n',
    )


async def test_a_local_worker_uses_d1_queues_and_ai_of_the_remote_account(
    cloud: Emulator, tmp_path: Path
) -> None:
    async with Emulator.from_config(local_config(tmp_path), clock=VirtualClock()) as local:
        async with local.client() as client:
            first = (await client.get("/signup")).json()
            await cloud.drain()  # the cloud's own consumer writes the event into its D1
            second = (await client.get("/login")).json()
        # the cloud delivers on its own (real) clock: "signup" may already be consumed
        assert first["events"] in (0, 1) and second["events"] >= 1
        assert isinstance(first["ai"], str) and first["ai"]
        assert "events" not in local.queues  # nothing was queued locally
    await cloud.drain()
    rows = await cloud.env.DB.prepare("SELECT what FROM events ORDER BY rowid").all()
    assert [r.what for r in rows.results] == ["signup", "login"]
    assert cloud.ai.stats().calls == 2


async def test_remote_d1_keeps_the_bindings_api_and_error_types(
    cloud: Emulator, tmp_path: Path
) -> None:
    async with Emulator.from_config(local_config(tmp_path), clock=VirtualClock()) as local:
        db = local.env.DB
        inserted = await db.prepare("INSERT INTO events VALUES (?) RETURNING what").bind("x").all()
        assert inserted.results == [{"what": "x"}] and inserted.meta.rows_written == 1
        assert await db.prepare("SELECT what FROM events").first("what") == "x"
        assert await db.prepare("SELECT what, what FROM events").raw(columnNames=True) == [
            ["what", "what"],
            ["x", "x"],
        ]
        results = await db.batch(
            [
                db.prepare("INSERT INTO events VALUES ('y')"),
                db.prepare("SELECT count(*) AS n FROM events"),
            ]
        )
        assert results[1].results == [{"n": 2}]
        assert (await db.exec("DELETE FROM events WHERE what = 'y'")).count == 1
        with pytest.raises(D1Error, match=r"^D1_ERROR: no such table: nowhere: SQLITE_ERROR"):
            await db.prepare("SELECT * FROM nowhere").all()


async def test_a_remote_producer_to_a_missing_queue_fails_as_a_send(
    cloud: Emulator, tmp_path: Path
) -> None:
    config = write(
        tmp_path / "lost",
        "lost",
        LOCAL_WORKER,
        '[[queues.producers]]\nbinding = "EVENTS"\nqueue = "nowhere"\nremote = true\n',
    )
    async with Emulator.from_config(config, clock=VirtualClock()) as local:
        with pytest.raises(QueueSendError, match='queue "nowhere" does not exist'):
            await local.env.EVENTS.send({"what": "x"})


async def test_a_remote_binding_without_credentials_is_a_clear_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    with pytest.raises(
        ConfigError,
        match=r"producer 'EVENTS' is a remote binding \(remote = true\): set "
        r"CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN",
    ):
        async with Emulator.from_config(local_config(tmp_path), clock=VirtualClock()):
            pass


async def test_d1_execute_remote_runs_on_the_remote_account(
    cloud: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cfemu.cli import main

    config = local_config(tmp_path)
    args = ["d1", "execute", "DB", "-c", str(config), "--remote", "--json", "--command"]
    insert = [*args, "INSERT INTO events VALUES ('from the cli')"]
    assert await asyncio.to_thread(main, insert) == 0
    rows = await cloud.env.DB.prepare("SELECT what FROM events").all()
    assert [r.what for r in rows.results] == ["from the cli"]
    assert not (tmp_path / "local" / ".cfemu").exists()  # nothing local was created


async def test_queue_verbs_with_remote_act_on_the_remote_account(
    cloud: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cfemu.cli import main

    config = str(local_config(tmp_path))
    pause = ["queues", "pause-delivery", "events", "-c", config, "--remote"]
    assert await asyncio.to_thread(main, pause) == 0
    assert cloud.broker.queues["events"].paused
    listing = ["queues", "list", "-c", config, "--remote"]
    assert await asyncio.to_thread(main, listing) == 0
    out = capsys.readouterr().out
    assert "events" in out and "paused" in out
    resume = ["queues", "resume-delivery", "events", "-c", config, "--remote"]
    assert await asyncio.to_thread(main, resume) == 0
    assert not cloud.broker.queues["events"].paused
    missing = ["queues", "info", "nowhere", "-c", config, "--remote"]
    assert await asyncio.to_thread(main, missing) == 1
    assert 'Queue "nowhere" does not exist' in capsys.readouterr().err
