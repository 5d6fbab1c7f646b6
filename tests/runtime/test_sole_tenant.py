"""The sole-tenant fast path of the import scope (``ImportScope.allow_resident``, on in
``cfemu dev``): one Worker's stand-ins and folder stay installed between its invocations, and
everything is put back as soon as a second Worker runs or the host has a module of its own."""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.runtime import Request, Worker
from cfemu.runtime import workers_module as workers
from cfemu.runtime._scope import ImportScope, import_scope

pytestmark = pytest.mark.anyio

SOURCE = """
import sys
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        import workers
        folders = [p for p in sys.path if p.startswith(ROOT)]
        return Response(type(workers).__name__ + ":" + workers.__name__ + " " + ",".join(folders))
"""


def make(root: Path, name: str) -> Worker:
    folder = root / name
    folder.mkdir()
    (folder / "entry.py").write_text(f"ROOT = {str(root)!r}\n" + textwrap.dedent(SOURCE))
    return Worker.load(folder / "entry.py", name=name, clock=VirtualClock(), tracker=TaskTracker())


@pytest.fixture
def resident() -> Iterator[None]:
    """The process-wide scope with the fast path on, as ``cfemu dev`` runs it."""
    assert import_scope.depth == 0 and import_scope.resident is None
    import_scope.allow_resident = True
    try:
        yield
    finally:
        import_scope.allow_resident = False
        import_scope.release()
        assert "workers" not in sys.modules


async def answer(worker: Worker) -> str:
    return await (await worker.fetch(Request("http://w/"))).text()


async def test_the_sole_worker_stays_installed_between_invocations(
    tmp_path: Path, resident: None
) -> None:
    a = make(tmp_path, "a")
    folder = str(tmp_path / "a")
    for _ in range(2):
        assert await answer(a) == f"module:cfemu.runtime.workers_module {folder}"
        # Between invocations: still installed, nothing open.
        assert import_scope.depth == 0 and import_scope.resident == (folder,)
        assert sys.modules["workers"] is workers and folder in sys.path
    import_scope.release()
    assert "workers" not in sys.modules and "js" not in sys.modules
    assert folder not in sys.path and import_scope.resident is None


async def test_a_second_worker_never_runs_with_the_first_ones_folder(
    tmp_path: Path, resident: None
) -> None:
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    folder_a, folder_b = str(tmp_path / "a"), str(tmp_path / "b")
    assert await answer(a) == f"module:cfemu.runtime.workers_module {folder_a}"
    assert import_scope.resident == (folder_a,)
    # b evicts a before it runs: its code sees its own folder only.
    assert await answer(b) == f"module:cfemu.runtime.workers_module {folder_b}"
    assert import_scope.resident == (folder_b,) and folder_a not in sys.path
    assert await answer(a) == f"module:cfemu.runtime.workers_module {folder_a}"
    assert folder_b not in sys.path


async def test_nothing_stays_when_the_host_has_a_module_of_a_stand_in_name(
    tmp_path: Path, resident: None
) -> None:
    theirs = types.ModuleType("js")  # e.g. an unrelated package named js
    sys.modules["js"] = theirs
    try:
        a = make(tmp_path, "a")
        assert await answer(a) == f"module:cfemu.runtime.workers_module {tmp_path / 'a'}"
        assert import_scope.resident is None
        assert sys.modules["js"] is theirs and "workers" not in sys.modules
        assert str(tmp_path / "a") not in sys.path
    finally:
        sys.modules.pop("js", None)


async def test_the_host_replacing_a_stand_in_meanwhile_ends_the_residence(
    tmp_path: Path, resident: None
) -> None:
    a = make(tmp_path, "a")
    await answer(a)
    assert import_scope.resident is not None
    sdk = types.ModuleType("workers")  # the host imports Cloudflare's SDK meanwhile
    sys.modules["workers"] = sdk
    try:
        # The Worker still gets cfemu's stand-in; the host gets its SDK back afterwards.
        assert await answer(a) == f"module:cfemu.runtime.workers_module {tmp_path / 'a'}"
        assert sys.modules["workers"] is sdk and import_scope.resident is None
        assert "js" not in sys.modules
    finally:
        sys.modules.pop("workers", None)


@given(st.lists(st.sampled_from(["a", "b", "exit"]), max_size=40))
def test_installed_while_open_or_resident_and_released_exactly(steps: list[str]) -> None:
    """Property: with the fast path on, the stand-ins are installed while an entry is open
    or a tenant is resident; a resident tenant is always the one that entered last; another
    tenant's entry never finds its folder; release restores sys.modules and sys.path."""
    scope = ImportScope()
    scope.allow_resident = True
    folders = {"a": ("/nonexistent/cfemu-tenant-a",), "b": ("/nonexistent/cfemu-tenant-b",)}
    before_path = list(sys.path)
    assert "workers" not in sys.modules
    opened: list[tuple[str, ...]] = []
    try:
        for step in steps:
            if step != "exit":
                other = folders["b" if step == "a" else "a"]
                scope.enter(folders[step])
                opened.append(folders[step])
                if other not in opened:
                    assert other[0] not in sys.path
            elif opened:
                scope.exit(opened.pop())
            assert scope.depth == len(opened)
            installed = bool(opened) or scope.resident is not None
            assert (sys.modules.get("workers") is workers) == installed
            if scope.resident is not None:
                assert not opened and all(p in sys.path for p in scope.resident)
        while opened:
            scope.exit(opened.pop())
        scope.release()
        assert "workers" not in sys.modules and sys.path == before_path
    finally:
        while opened:
            scope.exit(opened.pop())
        scope.release()
