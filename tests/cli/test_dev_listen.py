"""Friction 2 of issue 15, on the real process: ``[dev]`` settings are honoured, flags
override them, and a port in use is one line and exit status 1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli.devproc import cfemu_dev, free_port, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

WORKER = """\
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("served from " + request.url)
"""


def _project(tmp_path: Path, dev: str) -> Path:
    (tmp_path / "wrangler.toml").write_text(
        f'name = "t"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n\n[dev]\n{dev}\n'
    )
    (tmp_path / "worker.py").write_text(WORKER)
    return tmp_path


async def test_dev_ip_and_port_from_the_config_are_used(tmp_path: Path) -> None:
    port = free_port()
    project = _project(tmp_path, f'ip = "127.0.0.1"\nport = {port}')
    async with cfemu_dev("--in-memory", cwd=project, port=0) as dev:
        assert dev.port == port
        assert f"⎔ Ready on http://127.0.0.1:{port}\n" in dev.lines
        async with dev.client() as http:
            assert (await http.get("/x")).text == f"served from http://127.0.0.1:{port}/x"


async def test_the_port_flag_overrides_the_config(tmp_path: Path) -> None:
    configured, flagged = free_port(), free_port()
    project = _project(tmp_path, f"port = {configured}")
    async with cfemu_dev("--in-memory", cwd=project, port=flagged) as dev:
        assert dev.port == flagged
        async with dev.client() as http:
            assert (await http.get("/")).status_code == 200


def test_a_port_in_use_is_one_line_and_status_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        project = _project(tmp_path, f"port = {port}")
        status, out, err = run_cli("dev", "--in-memory", cwd=project)
    assert status == 1
    assert err == (
        f"✘ [ERROR] cannot listen on 127.0.0.1:{port}: address already in use (is another "
        "cfemu dev or wrangler dev running? pick one with --port)\n"
    )
    assert "Traceback" not in out


def test_https_without_a_certificate_says_what_to_pass(tmp_path: Path) -> None:
    project = _project(tmp_path, 'local_protocol = "https"')
    status, _, err = run_cli("dev", "--in-memory", "--port", str(free_port()), cwd=project)
    assert status == 1
    assert err.startswith("✘ [ERROR] local_protocol https needs a certificate: pass ")
    assert len(err.splitlines()) == 1
