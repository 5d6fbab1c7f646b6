"""``js``, ``pyodide`` and ``asgi`` inside a Worker: visible only to Worker code, on the
emulator's clock and outbound transport, and their responses accepted by ``Worker.fetch``."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import httpx
import pytest

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.compat import resolve
from cfemu.errors import WorkerError
from cfemu.runtime import Request, Worker

pytestmark = pytest.mark.anyio


def load(
    tmp_path: Path,
    source: str,
    *,
    clock: VirtualClock | None = None,
    outbound: httpx.AsyncBaseTransport | None = None,
    **env: Any,
) -> Worker:
    path = tmp_path / "entry.py"
    path.write_text(textwrap.dedent(source))
    return Worker.load(
        path,
        name="w",
        env=env,
        clock=clock or VirtualClock(),
        tracker=TaskTracker(),
        dev_mode=True,
        outbound=outbound,
    )


async def test_js_and_pyodide_exist_only_while_worker_code_runs(tmp_path: Path) -> None:
    theirs = types.ModuleType("js")  # e.g. a real Pyodide, or an unrelated package named js
    sys.modules["js"] = theirs
    try:
        worker = load(
            tmp_path,
            """
            import js
            import pyodide.ffi
            from workers import Response, WorkerEntrypoint

            SEEN_AT_IMPORT = js.JSON.stringify(pyodide.ffi.to_js([1]))

            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    import js as lazy
                    return Response(SEEN_AT_IMPORT + " " + lazy.JSON.stringify(lazy.null))
            """,
        )
        assert sys.modules["js"] is theirs
        assert "pyodide" not in sys.modules and "asgi" not in sys.modules
        response = await worker.fetch(Request("http://w/"))
        assert await response.text() == "[1] null"
        assert sys.modules["js"] is theirs
    finally:
        sys.modules.pop("js", None)


async def test_fetch_may_return_a_js_response(tmp_path: Path) -> None:
    worker = load(
        tmp_path,
        """
        from js import Object, Response, JSON
        from pyodide.ffi import to_js
        from workers import WorkerEntrypoint

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                data = to_js({"path": request.url}, dict_converter=Object.fromEntries)
                headers = to_js({"content-type": "application/json"})
                return Response.new(JSON.stringify(data), status=201, headers=headers)
        """,
    )
    response = await worker.fetch(Request("http://w/x"))
    assert response.status == 201
    assert response.headers["content-type"] == "application/json"
    assert await response.json() == {"path": "http://w/x"}


async def test_console_log_goes_to_stdout_like_print(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    worker = load(
        tmp_path,
        """
        from js import console
        from workers import Response, WorkerEntrypoint

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                console.log("handling", request.url)
                print("printed")
                return Response("ok")
        """,
    )
    await worker.fetch(Request("http://w/p"))
    assert capsys.readouterr().out.splitlines() == ["handling http://w/p", "printed"]


async def test_date_now_and_timers_follow_the_virtual_clock(tmp_path: Path) -> None:
    clock = VirtualClock(1_000.0)
    fired: list[Any] = []
    worker = load(
        tmp_path,
        """
        from js import Date, clearTimeout, setTimeout
        from pyodide.ffi import create_once_callable
        from workers import Response, WorkerEntrypoint

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                log = self.env.LOG
                setTimeout(create_once_callable(lambda: log.append(("timer", Date.now()))), 1500)
                cancelled = setTimeout(lambda: log.append("cancelled"), 500)
                clearTimeout(cancelled)

                async def later():
                    log.append(("async", Date.now()))

                setTimeout(later, 2000)
                return Response(str(Date.now()))
        """,
        clock=clock,
        LOG=fired,
    )
    response = await worker.fetch(Request("http://w/"))
    assert await response.text() == "1000000"
    clock.advance(1.0)
    assert fired == []
    clock.advance(0.5)
    assert fired == [("timer", 1_001_500)]
    clock.advance(0.5)
    await worker.tracker.wait_idle()
    assert fired == [("timer", 1_001_500), ("async", 1_002_000)]


async def test_js_fetch_and_pyfetch_use_the_outbound_transport(tmp_path: Path) -> None:
    seen: list[tuple[str, str, bytes]] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.content))
        if request.url.path == "/down":
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"echo": request.url.path}, headers={"X-Up": "1"})

    worker = load(
        tmp_path,
        """
        import json
        from js import fetch
        from pyodide.http import pyfetch, AbortError
        from workers import Response, WorkerEntrypoint

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                first = await fetch("https://api.example/js", method="POST", body="a")
                second = await pyfetch("https://api.example/py", method="PUT", body="b")
                try:
                    await pyfetch("https://api.example/down")
                    failure = None
                except AbortError as exc:
                    failure = type(exc).__name__
                result = {
                    "js": [first.status, (await first.json()).echo, first.headers.get("x-up")],
                    "py": [second.status, second.ok, await second.json(), second.headers["x-up"]],
                    "failure": failure,
                }
                return Response.json(result)
        """,
        outbound=httpx.MockTransport(upstream),
    )
    response = await worker.fetch(Request("http://w/"))
    assert await response.json() == {
        "js": [200, "/js", "1"],
        "py": [200, True, {"echo": "/py"}, "1"],
        "failure": "AbortError",
    }
    assert seen[:2] == [
        ("POST", "https://api.example/js", b"a"),
        ("PUT", "https://api.example/py", b"b"),
    ]


@pytest.mark.parametrize(
    "statement",
    ["js.fetch('https://x.example/')", "js.setTimeout(lambda: None, 10)", "js.crypto.randomUUID()"],
)
def test_io_timers_and_randomness_at_top_level_are_refused(tmp_path: Path, statement: str) -> None:
    with pytest.raises(WorkerError, match="Disallowed operation called within global scope"):
        load(
            tmp_path,
            f"""
            import js
            {statement}
            from workers import WorkerEntrypoint
            class Default(WorkerEntrypoint): ...
            """,
        )


def test_importing_a_global_cfemu_lacks_names_it(tmp_path: Path) -> None:
    with pytest.raises(WorkerError, match=r"NotEmulatedError: js\.HTMLRewriter"):
        load(tmp_path, "from js import HTMLRewriter\n")


async def test_run_sync_awaits_from_synchronous_code_inside_a_request(tmp_path: Path) -> None:
    worker = load(
        tmp_path,
        """
        from pyodide.ffi import can_run_sync, run_sync
        from workers import Response, WorkerEntrypoint

        AT_IMPORT = can_run_sync()
        try:
            run_sync(None)
        except RuntimeError as exc:
            IMPORT_ERROR = str(exc)

        async def double(request):
            return (await request.text()) * 2

        def blocking(request):
            return run_sync(double(request))

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                return Response(f"{AT_IMPORT} {IMPORT_ERROR} {can_run_sync()} {blocking(request)}")
        """,
    )
    response = await worker.fetch(Request("http://w/", method="POST", body="ab"))
    assert await response.text() == "False No suspender True abab"


async def test_top_level_asgi_is_workers_asgi(tmp_path: Path) -> None:
    worker = load(
        tmp_path,
        """
        import asgi
        from workers import WorkerEntrypoint
        import workers.asgi

        async def app(scope, receive, send):
            body = (await receive())["body"]
            text = f"{scope['method']} {scope['path']} {scope['env'].GREETING} {body.decode()}"
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": text.encode()})

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                assert asgi is workers.asgi
                return await asgi.fetch(app, request.js_object, self.env)
        """,
        GREETING="hi",
    )
    response = await worker.fetch(Request("http://w/a%20b", method="POST", body="x"))
    assert await response.text() == "POST /a b hi x"


@pytest.mark.parametrize(
    ("date", "expected"),
    [("2025-09-28", "None None None None"), ("2025-09-29", "jsnull jsnull jsnull jsnull")],
)
async def test_javascript_null_follows_the_pyodide_of_the_compatibility_date(
    tmp_path: Path, date: str, expected: str
) -> None:
    (tmp_path / "entry.py").write_text(
        textwrap.dedent(
            """
            import js
            from workers import Response, WorkerEntrypoint

            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    parsed = js.JSON.parse('{"a": null, "b": [null]}')
                    seen = [js.null, parsed.a, parsed.b[0], js.Headers.new().get("x")]
                    assert js.JSON.stringify(parsed) == '{"a":null,"b":[null]}'
                    return Response(" ".join(repr(v) for v in seen))
            """
        )
    )
    worker = Worker.load(
        tmp_path / "entry.py",
        name="w",
        clock=VirtualClock(),
        tracker=TaskTracker(),
        dev_mode=True,
        compat=resolve(date, ["python_workers"]),
    )
    assert await (await worker.fetch(Request("http://w/"))).text() == expected


async def test_a_module_on_fetch_gets_a_js_request_before_the_cutoff(tmp_path: Path) -> None:
    (tmp_path / "entry.py").write_text(
        textwrap.dedent(
            """
            from js import JSON, Object, Response
            from workers import Response as WorkersResponse, handler

            @handler
            async def as_sdk(request):
                return type(request).__name__

            async def on_fetch(request, env):
                if request.headers["content-type"] == "application/json":
                    data = await request.json()
                    return Response.new(f"{request.constructor.name} {data.name}")
                if request.method == "PUT":
                    return Response.new(await as_sdk(request))
                form = await request.formData()
                assert form.get("missing") is None  # JS null on this date's Pyodide 0.26
                fields = JSON.stringify(Object.fromEntries(form.entries()))
                return WorkersResponse(fields + " " + form.get("a"))
            """
        )
    )
    worker = Worker.load(
        tmp_path / "entry.py",
        name="w",
        clock=VirtualClock(),
        tracker=TaskTracker(),
        dev_mode=True,
        compat=resolve("2025-01-01", ["python_workers"]),
    )
    json_request = Request(
        "http://w/",
        method="POST",
        body='{"name": "ada"}',
        headers={"content-type": "application/json"},
    )
    assert await (await worker.fetch(json_request)).text() == "Request ada"
    put = Request("http://w/", method="PUT", body="x")
    assert await (await worker.fetch(put)).text() == "Request"  # @handler gives workers.Request
    form = Request(
        "http://w/",
        method="POST",
        body="a=1&b=2&a=3",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert await (await worker.fetch(form)).text() == '{"a":"3","b":"2"} 1'


@pytest.mark.parametrize(("date", "available"), [("2025-09-28", False), ("2025-09-29", True)])
def test_run_sync_exists_from_pyodide_0_28(tmp_path: Path, date: str, available: bool) -> None:
    (tmp_path / "entry.py").write_text(
        "try:\n"
        "    from pyodide.ffi import can_run_sync, run_sync\n"
        "    FOUND = True\n"
        "except ImportError:\n"
        "    FOUND = False\n"
        "from workers import WorkerEntrypoint\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n"
        "        pass\n"
    )
    worker = Worker.load(
        tmp_path / "entry.py",
        name="w",
        clock=VirtualClock(),
        tracker=TaskTracker(),
        compat=resolve(date, ["python_workers"]),
    )
    assert worker.module.FOUND is available
