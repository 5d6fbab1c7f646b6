"""``cfemu dev``'s ASGI app (``build_app``): each request reaches the Worker or the mount
under its prefix, and its request line carries the status that was actually sent, whatever
path the request took (the Worker's own status, an exception's 500, a stalled body's 408, a
refused ``Host``'s 403, a mount's answer)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cfemu import Emulator
from cfemu.cli._http_server import HttpOptions
from cfemu.cli.dev import build_app
from cfemu.clock import VirtualClock
from tests.cli.devlog import dev_logging, http_scope

pytestmark = pytest.mark.anyio

WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.url.endswith("/boom"):
            raise RuntimeError("boom")
        if request.url.endswith("/missing"):
            return Response("no such page", status=404)
        body = await request.text()
        return Response(f"ok {request.method} {len(body)}")
"""


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "wrangler.toml").write_text(
        'name = "w"\nmain = "worker.py"\ncompatibility_date = "2026-01-01"\n'
    )
    async with Emulator.from_config(tmp_path / "wrangler.toml", clock=VirtualClock()) as emu:
        yield emu


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    with dev_logging("log") as out:
        yield out


async def _call(app: Any, scope: dict[str, Any], body: bytes | None = None) -> list[Any]:
    sent: list[Any] = []
    chunks = [body or b""]

    async def receive() -> dict[str, Any]:
        if not chunks:
            raise AssertionError("read past the body")
        return {"type": "http.request", "body": chunks.pop(), "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("path", "status", "line"),
    [
        ("/", 200, "GET / 200 OK"),
        ("/missing", 404, "GET /missing 404 Not Found"),
        ("/boom", 500, "GET /boom 500 Internal Server Error"),
        ("/cdn-cgi/explorer/api/queues", 200, "GET /cdn-cgi/explorer/api/queues 200 OK"),
        # the API asks for a token (any, locally): none was sent
        (
            "/client/v4/accounts/any/queues",
            401,
            "GET /client/v4/accounts/any/queues 401 Unauthorized",
        ),
    ],
)
async def test_each_route_answers_and_logs_the_status_it_sent(
    emulator: Emulator, lines: io.StringIO, path: str, status: int, line: str
) -> None:
    app = build_app(emulator, explorer=True)
    sent = await _call(app, http_scope("GET", path))
    await asyncio.sleep(0)  # request lines are written on the next loop turn
    assert sent[0]["status"] == status
    assert lines.getvalue().splitlines()[-1].startswith(f"[cfemu:inf] {line} (")


async def test_a_request_with_a_body_is_read_and_logged(
    emulator: Emulator, lines: io.StringIO
) -> None:
    app = build_app(emulator)
    sent = await _call(app, http_scope("POST", "/", ((b"content-length", b"5"),)), b"hello")
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"ok POST 5")
    await asyncio.sleep(0)
    assert "POST / 200 OK (" in lines.getvalue()


@pytest.mark.parametrize("path", ["/", "/client/v4/accounts/any/queues"])
async def test_a_stalled_body_is_logged_as_the_408_it_got(
    emulator: Emulator, lines: io.StringIO, path: str
) -> None:
    clock = emulator.clock
    assert isinstance(clock, VirtualClock)
    app = build_app(emulator, http=HttpOptions(body_timeout=5))
    never: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return await never

    async def send(message: Any) -> None:
        sent.append(message)

    scope = http_scope("POST", path, ((b"content-length", b"10"),))
    serving = asyncio.create_task(app(scope, receive, send))
    for _ in range(1000):  # until the request waits for its body under the deadline
        if clock.pending_timers:
            break
        await asyncio.sleep(0)
    clock.advance(5)
    await asyncio.wait_for(serving, 5)
    assert sent[0]["status"] == 408
    await asyncio.sleep(0)
    assert f"POST {path} 408 Request Timeout (" in lines.getvalue()


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/client/v4/accounts/any/queues", "the Cloudflare API"),
        ("/cdn-cgi/local/explorer/api/queues", "the Local Explorer"),
        ("/cdn-cgi/explorer", "the Local Explorer"),
    ],
)
async def test_a_mount_refuses_a_foreign_host_with_a_logged_403(
    emulator: Emulator, lines: io.StringIO, path: str, what: str
) -> None:
    app = build_app(emulator, explorer=True)
    scope = http_scope("GET", path)
    scope["headers"] = [(b"host", b"attacker.example")]
    sent = await _call(app, scope)
    assert sent[0]["status"] == 403
    assert what.encode() in sent[1]["body"]
    await asyncio.sleep(0)
    assert f"GET {path} 403 Forbidden (" in lines.getvalue()


async def test_a_path_that_only_starts_like_a_mount_goes_to_the_worker(
    emulator: Emulator, lines: io.StringIO
) -> None:
    app = build_app(emulator, explorer=True)
    sent = await _call(app, http_scope("GET", "/client/v4x"))
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"ok GET 0")


async def test_no_request_line_below_info(emulator: Emulator) -> None:
    with dev_logging("warn") as out:
        sent = await _call(build_app(emulator), http_scope("GET", "/"))
    assert sent[0]["status"] == 200
    assert out.getvalue() == ""


async def test_requests_wait_while_held_and_go_to_what_set_gives(emulator: Emulator) -> None:
    from cfemu.cli._dev_app import DevApp

    served = DevApp()  # what uvicorn serves in cfemu dev: held until the emulator is up
    first = asyncio.create_task(_call(served, http_scope("GET", "/")))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not first.done()
    served.set(build_app(emulator))
    assert (await first)[0]["status"] == 200
    served.hold()  # a restart: new requests wait for the next set
    second = asyncio.create_task(_call(served, http_scope("GET", "/missing")))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not second.done()
    served.set(build_app(emulator))
    assert (await second)[0]["status"] == 404
