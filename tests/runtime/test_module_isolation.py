"""Several Workers in one process: each sees its own sibling modules, as on Cloudflare where
every Worker has its own interpreter."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.runtime import Request, Worker, WorkerTransport

pytestmark = pytest.mark.anyio

ENTRY = """
import asyncio
from workers import Response, WorkerEntrypoint
import utils
from pkg import helper

GATES = {}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        gate = GATES.get(request.url)
        if gate is not None:
            await gate.wait()  # another Worker runs meanwhile
        import utils as lazy  # resolved at call time
        import pkg.late
        self.ctx.waitUntil(self.later())
        return Response("/".join([utils.NAME, lazy.NAME, helper.NAME, pkg.late.NAME]))

    async def later(self):
        await asyncio.sleep(0)
        import utils
        self.env.LOG.append(utils.NAME)
"""


def make_worker(root: Path, name: str) -> Path:
    folder = root / name
    (folder / "pkg").mkdir(parents=True)
    (folder / "utils.py").write_text(f"NAME = {name!r}\n")
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "helper.py").write_text(f"NAME = 'helper-{name}'\n")
    (folder / "pkg" / "late.py").write_text(f"NAME = 'late-{name}'\n")
    (folder / "entry.py").write_text(textwrap.dedent(ENTRY))
    return folder / "entry.py"


@pytest.fixture
def process_utils() -> Iterator[types.ModuleType]:
    """A `utils` module of the test process itself, which no Worker may see or replace."""
    saved = {k: sys.modules.get(k) for k in ("utils", "pkg")}
    own = types.ModuleType("utils")
    own.NAME = "process"  # type: ignore[attr-defined]
    sys.modules["utils"] = own
    sys.modules.pop("pkg", None)
    yield own
    for key, module in saved.items():
        if module is None:
            sys.modules.pop(key, None)
        else:
            sys.modules[key] = module


def load(main: Path, name: str, tracker: TaskTracker, log: list[str]) -> Worker:
    return Worker.load(main, name=name, env={"LOG": log}, clock=VirtualClock(), tracker=tracker)


async def test_workers_with_same_named_siblings_see_their_own(
    tmp_path: Path, process_utils: types.ModuleType
) -> None:
    tracker = TaskTracker()
    log: list[str] = []
    a = load(make_worker(tmp_path, "a"), "a", tracker, log)
    b = load(make_worker(tmp_path, "b"), "b", tracker, log)
    for worker in (a, b):
        async with httpx.AsyncClient(transport=WorkerTransport(worker), base_url="http://w") as c:
            response = await c.get("/")
        n = worker.name
        assert response.text == f"{n}/{n}/helper-{n}/late-{n}"
    await tracker.wait_idle()
    assert log == ["a", "b"]
    # Nothing of either Worker stays behind in sys.modules; the process keeps its own.
    assert sys.modules["utils"] is process_utils
    assert not [k for k in sys.modules if k == "pkg" or k.startswith("pkg.")]


async def test_interleaved_events_of_two_workers_keep_their_modules_apart(
    tmp_path: Path, process_utils: types.ModuleType
) -> None:
    tracker = TaskTracker()
    log: list[str] = []
    a = load(make_worker(tmp_path, "a"), "a", tracker, log)
    b = load(make_worker(tmp_path, "b"), "b", tracker, log)
    gate_a = a.module.GATES["http://w/a"] = asyncio.Event()
    gate_b = b.module.GATES["http://w/b"] = asyncio.Event()
    first = asyncio.ensure_future(a.fetch(Request("http://w/a")))
    second = asyncio.ensure_future(b.fetch(Request("http://w/b")))
    for _ in range(3):
        await asyncio.sleep(0)  # both wait at their gates now
    assert not first.done() and not second.done()
    # Release in the order that leaves b's modules "last installed" while a resumes.
    gate_b.set()
    gate_a.set()
    answer_a, answer_b = await first, await second
    assert await answer_a.text() == "a/a/helper-a/late-a"
    assert await answer_b.text() == "b/b/helper-b/late-b"
    await tracker.wait_idle()
    assert sorted(log) == ["a", "b"]
    assert sys.modules["utils"] is process_utils


async def test_a_sibling_importing_the_main_module_gets_the_loaded_one(tmp_path: Path) -> None:
    (tmp_path / "entry.py").write_text(
        textwrap.dedent(
            """
            from workers import Response, WorkerEntrypoint
            COUNTER = []

            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    import helpers
                    return Response(str(helpers.same_module()))
            """
        )
    )
    (tmp_path / "helpers.py").write_text(
        "def same_module():\n    import entry\n    return entry.COUNTER is COUNTER_REF()\n"
        "def COUNTER_REF():\n    import sys\n    return sys.modules['entry'].COUNTER\n"
    )
    worker = Worker.load(
        tmp_path / "entry.py", name="m", clock=VirtualClock(), tracker=TaskTracker()
    )
    response = await worker.fetch(Request("http://w/"))
    assert await response.text() == "True"
    assert worker.modules.modules["entry"] is worker.module
    assert "entry" not in sys.modules and "helpers" not in sys.modules
