"""``cfemu dev`` mounts the explorer on loopback binds only, unless told otherwise."""

from __future__ import annotations

import httpx
import pytest

from cfemu import Emulator
from cfemu.cli import dev

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("ip", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("my-host", False),
    ],
)
def test_loopback_addresses(ip: str, loopback: bool) -> None:
    assert dev.is_loopback(ip) is loopback


async def _page_status(app: object) -> int:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        response = await http.get("/cdn-cgi/local/explorer/api/queues")
        return response.status_code if "result" in response.text else -1


@pytest.mark.parametrize(
    ("ip", "explorer", "served"),
    [
        ("127.0.0.1", None, True),
        ("0.0.0.0", None, False),
        ("0.0.0.0", True, True),
        ("127.0.0.1", False, False),
    ],
)
async def test_make_server_serves_the_explorer_as_asked(
    emulator: Emulator, ip: str, explorer: bool | None, served: bool
) -> None:
    server = dev.make_server(emulator, ip=ip, port=0, explorer=explorer)
    status = await _page_status(server.config.app)
    assert (status == 200) is served


def test_the_cli_has_explorer_and_no_explorer() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    dev.register(parser.add_subparsers())
    assert parser.parse_args(["dev"]).explorer is None
    assert parser.parse_args(["dev", "--explorer"]).explorer is True
    assert parser.parse_args(["dev", "--no-explorer"]).explorer is False
