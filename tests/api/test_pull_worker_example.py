"""examples/pull_worker.py: the pipeline's consumer as a plain process, against cfemu dev."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import anyio
import httpx
import pytest

from cfemu import Emulator, RealClock
from cfemu.cli.dev import make_server

pytestmark = pytest.mark.anyio
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_pull_worker", EXAMPLES / "pull_worker.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_pull_worker_completes_tasks_the_front_worker_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = Emulator.from_config(EXAMPLES / "pull_worker.toml", clock=RealClock())
    async with emulator:
        assert await emulator.apply_migrations("DB") == ["0001_init.sql"]
        server = make_server(emulator, ip="127.0.0.1", port=0)
        serving = asyncio.create_task(server.serve())
        try:
            with anyio.fail_after(10):
                while not server.started:
                    await asyncio.sleep(0)
            base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
            monkeypatch.setenv("CLOUDFLARE_API_BASE_URL", f"{base}/client/v4")
            async with httpx.AsyncClient(base_url=base) as http:
                ids = []
                for n in range(3):
                    task = {"taskType": "qa", "question": f"Question {n}?", "user": {"id": "u"}}
                    answer = await http.post("/api/tasks", json=task)
                    assert answer.status_code == 202
                    ids.append(answer.json()["taskId"])
                example = load_example()
                counts = await asyncio.to_thread(example.run, 2, 0.01)
                assert counts == {"completed": 3, "skipped": 0, "retried": 0}
                for task_id in ids:
                    info = (await http.get(f"/api/tasks/{task_id}")).json()
                    assert info["status"] == "completed" and info["result"]
            assert len(emulator.queues["ai-processing-queue"]) == 0
            assert emulator.ai.stats().calls == 3
        finally:
            server.should_exit = True
            await serving
