"""A small host for Durable Object tests: a Worker module, its config, the hub, a clock.

It assembles what the emulator assembles for the ``durable_objects`` kind (config →
hub → env → Worker), so the package is tested on its own; ``tests/durable_objects/
test_emulator.py`` covers the same through :class:`cfemu.Emulator`.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cfemu._faults import Faults
from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.config import load_config
from cfemu.durable_objects.hub import DurableObjectsHub
from cfemu.durable_objects.namespace import DurableObjectNamespace, NamespaceRuntime
from cfemu.runtime.env import Env
from cfemu.runtime.worker import Worker

CONFIG = """
name = "w"
main = "worker.py"
compatibility_date = "2026-11-01"
compatibility_flags = ["python_workers"]

[[durable_objects.bindings]]
name = "NS"
class_name = "Counter"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Counter"]
"""

DEFAULT_WORKER = """
from workers import DurableObject, Response, WorkerEntrypoint

class Counter(DurableObject):
    pass

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("ok")
"""


class Host:
    """One Worker with Durable Object bindings, on a virtual clock."""

    def __init__(self, folder: Path, persist_to: Path | None = None) -> None:
        self.folder = folder
        self.persist_to = persist_to
        self.clock = VirtualClock()
        self.tracker = TaskTracker()
        self.faults = Faults()
        self.workers: dict[str, Worker] = {}
        self.hub: DurableObjectsHub | None = None

    def start(self, source: str, config: str = CONFIG) -> Host:
        (self.folder / "worker.py").write_text(textwrap.dedent(source))
        (self.folder / "wrangler.toml").write_text(textwrap.dedent(config))
        cfg = load_config(self.folder / "wrangler.toml")
        self.workers.clear()
        self.hub = DurableObjectsHub(
            configs=(cfg,),
            workers=self.workers,
            clock=self.clock,
            tracker=self.tracker,
            faults=self.faults,
            persist_to=self.persist_to,
        )
        env = Env(self.hub.bindings_for(cfg))
        self.workers[cfg.name] = Worker.load(
            cfg.main_path or "", name=cfg.name, env=env, clock=self.clock, tracker=self.tracker
        )
        self.hub.attach()
        self.hub.restore()
        return self

    @property
    def worker(self) -> Worker:
        return self.workers["w"]

    def ns(self, binding: str = "NS") -> DurableObjectNamespace:
        value = getattr(self.worker.env, binding)
        assert isinstance(value, DurableObjectNamespace)
        return value

    def runtime(self, binding: str = "NS") -> NamespaceRuntime:
        return self.ns(binding)._runtime

    async def settle(self) -> None:
        """Run until only timers are left."""
        for _ in range(200):
            await asyncio.sleep(0)
        while self.tracker.tasks and not self.clock.next_deadline():
            await asyncio.wait(set(self.tracker.tasks), timeout=1)
            for _ in range(50):
                await asyncio.sleep(0)

    async def drain(self, max_steps: int = 10_000) -> None:
        """Fire timers (virtual time) until nothing is left."""
        await self.settle()
        for _ in range(max_steps):
            if not self.clock.fire_next():
                break
            await self.settle()
        else:
            raise AssertionError("did not settle")

    async def advance(self, seconds: float) -> None:
        target = self.clock.now() + seconds
        await self.settle()
        while (deadline := self.clock.next_deadline()) is not None and deadline <= target:
            self.clock.fire_next()
            await self.settle()
        self.clock.advance_to(target)
        await self.settle()

    async def close(self) -> None:
        await self.tracker.aclose()
        if self.hub is not None:
            self.hub.close()


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[Host]:
    h = Host(tmp_path)
    yield h
    await h.close()


RunIn = Callable[[Any], Awaitable[Any]]
