"""DNS rebinding: ``cfemu dev``'s REST API and Local Explorer answer only a local ``Host``,
an IP address or the name it was told to listen on; the Worker's own routes answer any."""

from __future__ import annotations

import httpx
import pytest

from cfemu import Emulator
from cfemu.api.hosts import host_allowed
from cfemu.cli.dev import build_app

EXPLORER = "/cdn-cgi/local/explorer/api/queues"
API = "/client/v4/accounts/any/queues"
AUTH = {"authorization": "Bearer anything"}


@pytest.mark.parametrize(
    ("host", "also", "allowed"),
    [
        ("localhost:8787", (), True),
        ("LOCALHOST.", (), True),
        ("app.localhost:8787", (), True),
        ("127.0.0.1:8787", (), True),
        ("10.1.2.3", (), True),
        ("[::1]:8787", (), True),
        (None, (), True),
        ("evil.example:8787", (), False),
        ("localhost.evil.example", (), False),
        ("127.0.0.1.nip.io:8787", (), False),
        ("devbox:8787", (), False),
        ("devbox:8787", ("devbox",), True),
        ("DevBox", ("devbox",), True),
    ],
)
def test_which_hosts_may_use_the_mounts(
    host: str | None, also: tuple[str, ...], allowed: bool
) -> None:
    assert host_allowed(host, also) is allowed


async def _status(app: object, base: str, path: str) -> tuple[int, str]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=base) as http:
        response = await http.get(path, headers=AUTH)
        return response.status_code, response.text


@pytest.mark.anyio
async def test_a_rebound_name_is_refused_by_the_api_and_the_explorer_not_the_worker(
    emulator: Emulator,
) -> None:
    app = build_app(emulator, explorer=True, allowed_hosts=("devbox",))
    for base in ("http://localhost:8787", "http://127.0.0.1:8787", "http://devbox:8787"):
        assert (await _status(app, base, EXPLORER))[0] == 200, base
        assert (await _status(app, base, API))[0] == 200, base
    evil = "http://evil.example:8787"
    status, text = await _status(app, evil, EXPLORER)
    assert status == 403 and "Host 'evil.example:8787' may not use the Local Explorer" in text
    status, text = await _status(app, evil, API)
    assert status == 403 and "may not use the Cloudflare API" in text
    assert (await _status(app, evil, "/?n=1"))[0] == 200  # the Worker's own route
    assert emulator.queues["jobs"].stats().sent == 1
