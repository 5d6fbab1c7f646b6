"""``cfemu dev``'s app bounds a stalled request body wherever it goes (the Worker, the REST
API, the Local Explorer): ``408`` and ``connection: close`` after ``--body-timeout`` on the
emulator's clock. A request without a body reaches the Worker without being read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cfemu import Emulator
from cfemu.cli._http_server import HttpOptions
from cfemu.cli.dev import build_app
from cfemu.clock import VirtualClock
from tests.cli.devlog import http_scope

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "path", ["/", "/client/v4/accounts/any/queues", "/cdn-cgi/local/explorer/api/queues"]
)
async def test_a_stalled_body_gets_408_on_every_route(emulator: Emulator, path: str) -> None:
    clock = emulator.clock
    assert isinstance(clock, VirtualClock)
    app = build_app(emulator, explorer=True, http=HttpOptions(body_timeout=5))
    never: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return await never

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = http_scope("POST", path, [(b"content-length", b"10"), (b"authorization", b"Bearer x")])
    serving = asyncio.create_task(app(scope, receive, send))
    for _ in range(1000):  # until the request waits for its body under the deadline
        if clock.pending_timers:
            break
        await asyncio.sleep(0)
    assert clock.next_deadline() == clock.now() + 5
    clock.advance(5)
    await asyncio.wait_for(serving, 5)
    assert sent[0]["status"] == 408, path
    assert (b"connection", b"close") in sent[0]["headers"]
    assert clock.pending_timers == 0


async def test_a_request_without_a_body_reaches_the_worker_unread(emulator: Emulator) -> None:
    app = build_app(emulator, explorer=True, http=HttpOptions(body_timeout=5))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("a request without a body is not read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(http_scope("GET", "/?n=1", []), receive, send)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b'{"sent": 1}'
