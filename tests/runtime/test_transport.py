"""HTTP into a Worker (httpx transport, ASGI app, uvicorn) and out of it (``workers.fetch``)."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.runtime import (
    FetchResponse,
    Request,
    Response,
    Worker,
    WorkerTransport,
    asgi_app,
)
from tests.listening_server import ListeningServer

pytestmark = pytest.mark.anyio

SAMPLE = Path(__file__).parent / "worker_files" / "sample.py"


def sample(*, limit: int = 1_000_000, dev_mode: bool = False, **env: Any) -> Worker:
    env.setdefault("GREETING", "hi")
    env.setdefault("SEEN", [])
    return Worker.load(
        SAMPLE,
        name="sample",
        env=env,
        clock=VirtualClock(),
        tracker=TaskTracker(),
        dev_mode=dev_mode,
        max_request_body_bytes=limit,
    )


def client(worker: Worker, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=WorkerTransport(worker, **kwargs), base_url="http://worker.local"
    )


# --- WorkerTransport -------------------------------------------------------------------
async def test_httpx_client_reaches_the_worker_in_process() -> None:
    async with client(sample()) as http:
        hello = await http.get("/hello")
        data = await http.get("/json")
        missing = await http.get("/nowhere")
    assert (hello.status_code, hello.text) == (200, "Hello from a Python Worker")
    assert hello.headers["content-type"] == "text/plain;charset=UTF-8"
    assert data.json() == {"greeting": "hi", "method": "GET"}
    assert missing.status_code == 404


async def test_request_body_headers_and_url_reach_the_worker() -> None:
    async with client(sample()) as http:
        echo = await http.post("/echo?x=1", content=b"\x00binary", headers={"content-type": "a/b"})
        form = await http.post(
            "/form", data={"field": "v"}, files={"upload": ("f.txt", b"data", "text/plain")}
        )
    assert echo.content == b"\x00binary"
    assert (echo.headers["content-type"], echo.headers["x-length"]) == ("a/b", "7")
    assert form.json() == {"field": "v", "upload": "f.txt"}


async def test_lazy_workers_import_and_500_through_the_client() -> None:
    async with client(sample()) as http:
        lazy = await http.get("/lazy")
        boom = await http.get("/boom")
    assert lazy.text == "lazy hi"
    assert (boom.status_code, boom.text) == (500, "Worker threw exception")


async def chunks(total: int, size: int = 1000) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


async def test_transport_enforces_the_body_limit_while_streaming() -> None:
    worker = sample(limit=2500)
    async with client(worker) as http:
        within = await http.post("/echo", content=chunks(2500))
        streamed = await http.post("/echo", content=chunks(10_000_000))  # no Content-Length
        declared = await http.post("/echo", content=b"y" * 2501)
    assert (within.status_code, len(within.content)) == (200, 2500)
    assert streamed.status_code == 413
    assert declared.status_code == 413 and "2500 bytes" in declared.text


async def test_test_scheduled_route() -> None:
    seen: list[Any] = []
    worker = sample(SEEN=seen)
    async with client(worker, test_scheduled=True) as http:
        ran = await http.get("/__scheduled", params={"cron": "*/5 * * * *", "time": "1000"})
        python_path = await http.get("/cdn-cgi/handler/scheduled?cron=0+0+*+*+*")
        other = await http.get("/hello")
    assert (ran.status_code, ran.text) == (200, "Ran scheduled event")
    assert python_path.status_code == 200
    now_ms = worker.clock.now_ms()  # no ``time`` parameter: the clock's now
    assert seen[:2] == [("scheduled", "*/5 * * * *", 1000), ("scheduled", "0 0 * * *", now_ms)]
    assert other.text == "Hello from a Python Worker"
    async with client(worker) as http:  # without the flag the Worker answers the path
        assert (await http.get("/__scheduled")).status_code == 404


async def test_custom_dispatch_wraps_the_worker() -> None:
    worker = sample()

    async def dispatch(request: Request) -> FetchResponse:
        response = await worker.fetch(request)
        return response.replace_body(b"wrapped:" + await response.bytes())

    async with client(worker, dispatch=dispatch) as http:
        assert (await http.get("/hello")).text == "wrapped:Hello from a Python Worker"


# --- ASGI ------------------------------------------------------------------------------
async def call_asgi(
    app: Any, method: str, path: str, body_parts: list[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[str, str], bytes, int]:
    """Drive the ASGI app directly; returns status, headers, body, and messages received."""
    incoming = [
        {"type": "http.request", "body": part, "more_body": i < len(body_parts) - 1}
        for i, part in enumerate(body_parts)
    ]
    received = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"example.test"), *headers],
        "server": ("127.0.0.1", 8787),
    }
    await app(scope, receive, send)
    start, body = sent[0], sent[1]
    decoded = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], decoded, body["body"], received


async def test_asgi_app_serves_the_worker_and_stops_reading_at_the_limit() -> None:
    app = asgi_app(sample(limit=10))
    status, headers, body, _ = await call_asgi(app, "POST", "/echo", [b"abc", b"def"], [])
    assert (status, body, headers["content-length"]) == (200, b"abcdef", "6")
    parts = [b"12345", b"67890", b"X", b"never read", b"never read"]
    status, _, _, received = await call_asgi(app, "POST", "/echo", parts, [])
    assert status == 413 and received == 3  # stopped once past 10 bytes
    status, _, _, received = await call_asgi(
        app, "POST", "/echo", [b"x"], [(b"content-length", b"11")]
    )
    assert status == 413 and received == 0  # refused on the declared length alone


async def test_asgi_lifespan_is_acknowledged() -> None:
    app = asgi_app(sample())
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_asgi_app_under_a_real_uvicorn_on_loopback() -> None:
    app = asgi_app(sample(limit=1000), test_scheduled=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = ListeningServer(config)
    serving = asyncio.create_task(server.serve())
    try:
        with anyio.fail_after(10):
            await server.ready.wait()
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            hello = await http.get("/hello")
            echo = await http.post("/echo", content=b"over the wire")
            boom = await http.get("/boom")
            too_big = await http.post("/echo", content=b"z" * 1001)
            cron = await http.get("/__scheduled?cron=*+*+*+*+*")
            data = await http.get("/json")
    finally:
        server.should_exit = True
        with anyio.fail_after(10):
            await serving
    assert (hello.status_code, hello.text) == (200, "Hello from a Python Worker")
    assert echo.content == b"over the wire"
    assert boom.status_code == 500
    assert too_big.status_code == 413
    assert cron.text == "Ran scheduled event"
    assert data.json()["greeting"] == "hi"


# --- outbound fetch ----------------------------------------------------------------------
OUTBOUND_WORKER = """
from workers import Response, WorkerEntrypoint, fetch

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        upstream = await fetch(
            "https://api.example.test/items",
            method="POST",
            headers={"x-token": "t"},
            body='{"q": 1}',
        )
        data = await upstream.json()
        return Response.json({"status": upstream.status, "upstream": data, "ok": upstream.ok})
"""


def outbound_worker(tmp_path: Path, transport: httpx.AsyncBaseTransport) -> Worker:
    path = tmp_path / "outbound.py"
    path.write_text(textwrap.dedent(OUTBOUND_WORKER))
    return Worker.load(
        path, name="out", clock=VirtualClock(), tracker=TaskTracker(), outbound=transport
    )


async def test_workers_fetch_goes_through_the_outbound_transport(tmp_path: Path) -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(201, json={"echo": request.content.decode()})

    worker = outbound_worker(tmp_path, httpx.MockTransport(handler))
    response = await worker.fetch(Request("http://w/"))
    assert await response.json() == {"status": 201, "upstream": {"echo": '{"q": 1}'}, "ok": True}
    (sent,) = captured
    assert (sent.method, str(sent.url), sent.headers["x-token"]) == (
        "POST",
        "https://api.example.test/items",
        "t",
    )


async def test_one_worker_can_fetch_another_in_process(tmp_path: Path) -> None:
    backend_path = tmp_path / "backend.py"
    backend_path.write_text(
        "from workers import Response, WorkerEntrypoint\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n"
        "        return Response.json({'got': await request.text(), 'url': request.url})\n"
    )
    backend = Worker.load(backend_path, name="backend", clock=VirtualClock(), tracker=TaskTracker())
    front = outbound_worker(tmp_path, WorkerTransport(backend))
    payload = await (await front.fetch(Request("http://w/"))).json()
    assert payload["upstream"] == {"got": '{"q": 1}', "url": "https://api.example.test/items"}


async def test_network_errors_become_os_errors(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    worker = outbound_worker(tmp_path, httpx.MockTransport(handler))
    response = await worker.fetch(Request("http://w/"))
    assert response.status == 500  # the Worker did not catch the OSError


async def test_fetch_with_a_fetcher_and_redirect_modes() -> None:
    from cfemu.runtime import fetch

    async def fetcher(request: Request) -> Response:
        return Response(f"{request.method} {request.url}")

    reply = await fetch("http://svc/x", method="DELETE", fetcher=fetcher)
    assert await reply.text() == "DELETE http://svc/x"

    def redirecting(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/start":
            return httpx.Response(302, headers={"location": "/end"})
        return httpx.Response(200, text="end")

    from cfemu.runtime._scope import DispatchState, current
    from cfemu.runtime.env import Env

    token = current.set(
        DispatchState("w", Env(), VirtualClock(), outbound=httpx.MockTransport(redirecting))
    )
    try:
        followed = await fetch("http://h/start")
        manual = await fetch("http://h/start", redirect="manual")
        with pytest.raises(OSError, match="unexpected redirect"):
            await fetch("http://h/start", redirect="error")
    finally:
        current.reset(token)
    assert (followed.status, followed.redirected, await followed.text()) == (200, True, "end")
    assert (manual.status, manual.headers["location"]) == (302, "/end")
