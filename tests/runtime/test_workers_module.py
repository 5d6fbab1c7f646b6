"""cfemu's stand-in for Cloudflare's ``workers`` module: its names, its scope, its helpers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfemu._js import JsDict
from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.errors import NotEmulatedError, WorkerError
from cfemu.runtime import Request, Worker, WorkerEntrypoint
from cfemu.runtime import workers_module as workers
from cfemu.runtime._scope import ImportScope, import_scope

pytestmark = pytest.mark.anyio

#: The public names of Cloudflare's ``workers`` module (workers-runtime-sdk 1.9.5, its
#: ``__all__``), from spec workers-and-config.md Appendix A.
CLOUDFLARE_WORKERS_NAMES = [
    "Blob",
    "BlobEnding",
    "BlobValue",
    "Body",
    "Context",
    "DurableObject",
    "FetchKwargs",
    "FetchResponse",
    "File",
    "FormData",
    "FormDataValue",
    "Headers",
    "JSBody",
    "Request",
    "RequestInitCfProperties",
    "Response",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "env",
    "fetch",
    "handler",
    "import_from_javascript",
    "patch_env",
    "python_from_rpc",
    "python_to_rpc",
    "waitUntil",
    "wait_until",
]
LAZY = {"env", "waitUntil", "wait_until"}


def write_worker(tmp_path: Path, source: str, name: str = "entry.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def fake_sdk() -> Iterator[types.ModuleType]:
    """A stand-in for Cloudflare's SDK already imported in the process."""
    saved = sys.modules.get("workers")
    sdk = types.ModuleType("workers")
    sys.modules["workers"] = sdk
    try:
        yield sdk
    finally:
        if saved is None:
            sys.modules.pop("workers", None)
        else:
            sys.modules["workers"] = saved


def load(path: Path, **env: object) -> Worker:
    return Worker.load(path, name="w", env=env, clock=VirtualClock(), tracker=TaskTracker())


def test_exports_every_public_name_of_cloudflares_sdk() -> None:
    assert sorted(workers.__all__) == sorted(CLOUDFLARE_WORKERS_NAMES)
    for name in sorted(set(CLOUDFLARE_WORKERS_NAMES) - LAZY):
        assert getattr(workers, name) is not None, name
    assert set(dir(workers)) >= LAZY
    with workers.patch_env(KEY="v"):
        assert workers.env.KEY == "v"
        assert callable(workers.waitUntil) and callable(workers.wait_until)


def test_importing_cfemu_never_touches_sys_modules_workers() -> None:
    code = (
        "import sys, cfemu, cfemu.runtime, cfemu.runtime.workers_module\n"
        "assert 'workers' not in sys.modules, sorted(k for k in sys.modules if 'workers' in k)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_workers_resolves_to_cfemu_while_loading_and_is_restored(
    tmp_path: Path, fake_sdk: types.ModuleType
) -> None:
    path = write_worker(
        tmp_path,
        """
        import sys
        import workers
        from workers import Response, WorkerEntrypoint

        SEEN_AT_IMPORT = sys.modules["workers"]

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                return Response("ok")
        """,
    )
    worker = load(path)
    assert worker.module.SEEN_AT_IMPORT is workers
    assert worker.module.workers is workers
    assert sys.modules["workers"] is fake_sdk  # Cloudflare's SDK is back
    assert import_scope.depth == 0


async def test_lazy_import_inside_a_handler_resolves_to_cfemu(
    tmp_path: Path, fake_sdk: types.ModuleType
) -> None:
    path = write_worker(
        tmp_path,
        """
        from workers import WorkerEntrypoint

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                import sys
                import workers
                from workers import env
                assert sys.modules["workers"] is workers
                return workers.Response(env.NAME)
        """,
    )
    worker = load(path, NAME="lazy-ok")
    response = await worker.fetch(Request("http://w/"))
    assert (response.status, await response.text()) == (200, "lazy-ok")
    assert sys.modules["workers"] is fake_sdk


async def test_sibling_modules_of_the_worker_import(tmp_path: Path) -> None:
    (tmp_path / "helpers_for_cfemu_test.py").write_text(
        "from workers import Response\n\ndef hello():\n    return Response('from a helper')\n"
    )
    path = write_worker(
        tmp_path,
        """
        from workers import WorkerEntrypoint
        from helpers_for_cfemu_test import hello

        class Default(WorkerEntrypoint):
            async def fetch(self):
                return hello()
        """,
    )
    worker = load(path)
    assert "workers" not in sys.modules  # loading left sys.modules as it was
    assert str(tmp_path) not in sys.path  # only while loading / dispatching
    assert await (await worker.fetch(Request("http://w/"))).text() == "from a helper"
    sys.modules.pop("helpers_for_cfemu_test", None)


def test_module_level_env_is_available_at_import(tmp_path: Path) -> None:
    path = write_worker(
        tmp_path,
        """
        from workers import WorkerEntrypoint, env, import_from_javascript

        HOST = env.API_HOST
        VIA_JS = import_from_javascript("cloudflare:workers").env.API_HOST

        class Default(WorkerEntrypoint):
            pass
        """,
    )
    worker = load(path, API_HOST="example.com")
    assert (worker.module.HOST, worker.module.VIA_JS) == ("example.com", "example.com")


def test_env_outside_a_worker_is_a_clear_error() -> None:
    with pytest.raises(WorkerError, match=r"workers\.env is only available while cfemu runs"):
        _ = workers.env
    with pytest.raises(WorkerError, match="waitUntil"):
        workers.wait_until(None)  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = workers.nope


def test_patch_env_overrides_and_restores() -> None:
    with workers.patch_env({"A": "1"}, B="2"):
        assert (workers.env.A, workers.env.B) == ("1", "2")
        with workers.patch_env(A="override"):
            assert workers.env.A == "override"
        assert workers.env.A == "1"
    with pytest.raises(WorkerError):
        _ = workers.env


def test_workflow_entrypoint_base_sets_ctx_and_env() -> None:
    sub = type("Flow", (workers.WorkflowEntrypoint,), {})
    flow = sub("the ctx", "the env")
    assert (flow.ctx, flow.env) == ("the ctx", "the env")


def test_durable_object_base_sets_ctx_and_env() -> None:
    sub = type("Counter", (workers.DurableObject,), {})
    obj = sub("the ctx", "the env")
    assert (obj.ctx, obj.env) == ("the ctx", "the env")


def test_import_from_javascript_other_modules_are_not_emulated() -> None:
    sockets = workers.import_from_javascript("cloudflare:sockets")  # imports, as on Cloudflare
    with pytest.raises(NotEmulatedError, match="cloudflare:sockets connect"):
        sockets.connect("example.com:443")
    # outside a request: the SDK's exact wording for the global scope
    with pytest.raises(ImportError, match=r"^Failed to import 'node:fs': Only 'cloudflare:wo"):
        workers.import_from_javascript("node:fs")


def test_websocket_responses_are_not_emulated() -> None:
    with pytest.raises(NotEmulatedError, match="WebSockets"):
        workers.Response(None, 101, web_socket=object())


def test_python_to_rpc_rejects_what_cannot_cross_rpc() -> None:
    value = {"a": [1, "x", None], "b": {"c": 2.5}}
    assert workers.python_to_rpc(value) is value
    with pytest.raises(TypeError, match=r"^<class 'tuple'> cannot be sent over RPC\.$"):
        workers.python_to_rpc({"nested": [(1, 2)]})
    with pytest.raises(TypeError, match=r"bytearray'> cannot be sent over RPC\."):
        workers.python_to_rpc(bytearray(b"x"))

    async def coro() -> None:
        return None

    pending = coro()
    with pytest.raises(TypeError, match=r"^Awaitable <class 'coroutine'> cannot be sent"):
        workers.python_to_rpc(pending)
    pending.close()
    assert workers.python_to_rpc(len) is len  # callables are allowed


def test_python_from_rpc_gives_attribute_dicts() -> None:
    result = workers.python_from_rpc({"meta": {"changes": 1}, "results": [{"id": 1}]})
    assert isinstance(result, JsDict)
    assert result.meta.changes == 1 and result.results[0].id == 1
    assert workers.python_from_rpc(None) is None


async def test_handler_decorator_passes_arguments_through() -> None:
    @workers.handler
    async def on_fetch(request: Request, env: object) -> str:
        return f"{request.url} {env}"

    assert await on_fetch(Request("http://w/x"), "E") == "http://w/x E"

    @workers.handler
    def sync(value: int) -> int:
        return value + 1

    assert sync(1) == 2


def test_worker_entrypoint_sets_ctx_and_env() -> None:
    instance = WorkerEntrypoint("the ctx", "the env")
    assert (instance.ctx, instance.env) == ("the ctx", "the env")
    assert workers.WorkerEntrypoint is WorkerEntrypoint


async def test_overlapping_events_keep_the_stand_in_installed(
    tmp_path: Path, fake_sdk: types.ModuleType
) -> None:
    path = write_worker(
        tmp_path,
        """
        import asyncio
        from workers import WorkerEntrypoint, Response

        GATES = {}

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                gate = GATES.setdefault(request.url, asyncio.Event())
                await gate.wait()
                import workers  # after the other request has finished
                return workers.Response(type(workers).__name__ + ":" + workers.__name__)
        """,
    )
    worker = load(path)
    gates = worker.module.GATES
    first = asyncio.ensure_future(worker.fetch(Request("http://w/1")))
    second = asyncio.ensure_future(worker.fetch(Request("http://w/2")))
    for _ in range(100):  # both requests reach their gate within a few loop iterations
        if len(gates) == 2:
            break
        await asyncio.sleep(0)
    assert len(gates) == 2
    gates["http://w/1"].set()
    await first
    assert import_scope.depth == 1 and sys.modules["workers"] is workers
    gates["http://w/2"].set()
    response = await second
    assert await response.text() == "module:cfemu.runtime.workers_module"
    assert import_scope.depth == 0 and sys.modules["workers"] is fake_sdk


@given(st.lists(st.booleans(), max_size=40))
def test_import_scope_installs_iff_some_entry_is_open(steps: list[bool]) -> None:
    """Property: any interleaving of entries and exits leaves ``workers`` installed exactly
    while at least one entry is open, and restores the previous module afterwards."""
    scope = ImportScope()
    saved = sys.modules.get("workers")
    sentinel = types.ModuleType("workers")
    sys.modules["workers"] = sentinel
    paths = ("/nonexistent/cfemu-scope-test",)
    open_entries = 0
    try:
        for enter in steps:
            if enter:
                scope.enter(paths)
                open_entries += 1
            elif open_entries:
                scope.exit(paths)
                open_entries -= 1
            assert scope.depth == open_entries
            assert (sys.modules["workers"] is workers) == (open_entries > 0)
            assert (paths[0] in sys.path) == (open_entries > 0)
        for _ in range(open_entries):
            scope.exit(paths)
        assert sys.modules["workers"] is sentinel and paths[0] not in sys.path
    finally:
        if saved is None:
            sys.modules.pop("workers", None)
        else:
            sys.modules["workers"] = saved


async def test_asgi_apps_run_through_workers_asgi(tmp_path: Path) -> None:
    path = write_worker(
        tmp_path,
        """
        from workers import asgi

        async def app(scope, receive, send):
            request = await receive()
            body = b"%s %s %s %s" % (
                scope["method"].encode(), scope["path"].encode(), scope["query_string"],
                request["body"],
            )
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"x-env", scope["env"].NAME.encode())]})
            await send({"type": "http.response.body", "body": body})

        Default = asgi.entrypoint(app)
        """,
    )
    worker = load(path, NAME="asgi-env")
    response = await worker.fetch(Request("http://w/a%20b?x=1", method="POST", body=b"data"))
    assert response.headers["x-env"] == "asgi-env"
    assert await response.bytes() == b"POST /a b x=1 data"
