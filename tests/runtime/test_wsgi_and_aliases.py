"""``workers.wsgi`` (a WSGI app served as a Worker) and the module aliases Cloudflare's
runtime ships: ``workers.rpc``, ``workers.handler``, ``import_from_javascript``."""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

import cfemu.runtime.js_module as js
import cfemu.runtime.workers_module as workers
from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.runtime import Request, Worker
from cfemu.runtime.env import Env
from cfemu.runtime.workers_module import wsgi

pytestmark = pytest.mark.anyio

StartResponse = Callable[..., Any]


def echo_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A tiny WSGI app: answers with what it saw."""
    body = environ["wsgi.input"].read()
    keys = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT")
    seen = [environ[k] for k in keys] + [
        environ.get("CONTENT_TYPE", ""),
        environ.get("CONTENT_LENGTH", ""),
        environ.get("HTTP_X_MULTI", ""),
        environ["wsgi.url_scheme"],
        environ["workers.env"].NAME,
        body.decode(),
    ]
    write = start_response("201 Made", [("X-A", "1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    write(b"[")
    return [b"|".join(s.encode("latin-1") for s in seen), b"", b"]"]


async def test_wsgi_fetch_gives_the_app_a_pep_3333_environ() -> None:
    request = Request(
        "https://example.com/caf%C3%A9/x?q=1",
        method="POST",
        headers=[("Content-Type", "text/plain"), ("X-Multi", "a"), ("X-Multi", "b")],
        body="hello",
    )
    response = await wsgi.fetch(echo_app, request, Env({"NAME": "env!"}))
    assert (response.status, response.status_text) == (201, "Made")
    assert response.headers.get_all("set-cookie") == ["a=1", "b=2"]
    text = (await response.bytes()).decode("latin-1")
    assert text == "[POST|/caf\xc3\xa9/x|q=1|example.com|443|text/plain|5|a,b|https|env!|hello]"


async def test_wsgi_fetch_accepts_a_js_request_and_null_body_statuses() -> None:
    def no_content(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("204 No Content", [])
        return [b"ignored"]

    response = await wsgi.fetch(no_content, js.Request.new("http://h/"), Env())
    assert response.status == 204 and await response.bytes() == b""


async def test_wsgi_errors_use_the_sdks_wording() -> None:
    def silent(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return [b"x"]

    def twice(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return []

    with pytest.raises(RuntimeError, match="did not call start_response"):
        await wsgi.fetch(silent, Request("http://h/"), Env())
    with pytest.raises(AssertionError, match="start_response\\(\\) called more than once"):
        await wsgi.fetch(twice, Request("http://h/"), Env())
    with pytest.raises(ValueError, match="Request URL is not absolute: '/relative'"):
        await wsgi.fetch(echo_app, Request("/relative"), Env())
    with pytest.raises(ValueError, match="encode_body must be one of"):
        wsgi.Options(encode_body="sometimes")  # type: ignore[arg-type]


class Closing:
    """A WSGI result with close(), which the server must call (PEP 3333)."""

    closed = False

    def __init__(self, start_response: StartResponse) -> None:
        start_response("200 OK", [("Content-Type", "text/plain")])

    def __iter__(self) -> Any:
        yield b"chunk"

    def close(self) -> None:
        Closing.closed = True


async def test_wsgi_entrypoint_serves_the_app_from_a_worker(tmp_path: Path) -> None:
    (tmp_path / "entry.py").write_text(
        textwrap.dedent(
            """
            from workers import wsgi
            from workers.wsgi import entrypoint

            Default = entrypoint(lambda environ, start_response: APP(environ, start_response))
            """
        )
    )
    worker = Worker.load(
        tmp_path / "entry.py", name="w", clock=VirtualClock(), tracker=TaskTracker()
    )
    worker.module.APP = lambda environ, start_response: Closing(start_response)
    response = await worker.fetch(Request("http://w/"))
    assert (response.status, await response.text(), Closing.closed) == (200, "chunk", True)


async def test_sdk_submodules_and_helpers_inside_a_worker(tmp_path: Path) -> None:
    (tmp_path / "entry.py").write_text(
        textwrap.dedent(
            """
            import js
            from workers import Response, WorkerEntrypoint, handler, import_from_javascript
            from workers.rpc import JsDict, python_from_rpc, python_to_rpc

            ENV_AT_IMPORT = import_from_javascript("cloudflare:workers").env.NAME

            @handler
            async def legacy(request, env):
                return type(request).__name__ + " " + request.url

            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    try:
                        import_from_javascript("cloudflare:email")
                    except ImportError as exc:
                        refused = str(exc)
                    converted = python_from_rpc({"a": {"b": 1}})
                    wrapped = await legacy(js.Request.new("http://x/"), self.env)
                    return Response.json({
                        "import": ENV_AT_IMPORT,
                        "refused": refused,
                        "rpc": [isinstance(converted, JsDict), converted.a.b],
                        "legacy": wrapped,
                    })
            """
        )
    )
    worker = Worker.load(
        tmp_path / "entry.py",
        name="w",
        env={"NAME": "n"},
        clock=VirtualClock(),
        tracker=TaskTracker(),
    )
    result = await (await worker.fetch(Request("http://w/"))).json()
    assert result["import"] == "n"
    assert result["refused"].startswith("Failed to import 'cloudflare:email': ")
    assert result["rpc"] == [True, 1]
    assert result["legacy"] == "Request http://x/"
    assert workers.rpc.python_to_rpc is workers.python_to_rpc


async def test_asgi_env_is_a_fastapi_dependency_on_scope_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = types.ModuleType("fastapi")
    fake.Request = type("Request", (), {})  # type: ignore[attr-defined]
    fake.Depends = lambda dependency: ("Depends", dependency)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fastapi", fake)
    from cfemu.runtime.workers_module import asgi

    kind, dependency = asgi.env
    assert kind == "Depends" and dependency.__annotations__["request"] is fake.Request
    request = types.SimpleNamespace(scope={"env": "the env"})
    assert await dependency(request) == "the env"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        asgi.nope  # noqa: B018
