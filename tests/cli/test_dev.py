"""``cfemu dev`` and the command line: real HTTP on loopback, crons, clean Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from cfemu import Emulator, RealClock
from cfemu.cli import main
from cfemu.cli.dev import describe, make_server, parse_vars
from cfemu.errors import ConfigError

PROJECT = Path(__file__).parent / "project"


def test_help_lists_every_command_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("    ")}
    assert {"dev", "d1", "queues"} <= listed, out


def test_var_must_be_key_colon_value() -> None:
    assert parse_vars(["A:1", "B:x:y"]) == {"A": "1", "B": "x:y"}
    with pytest.raises(ConfigError, match="KEY:VALUE"):
        parse_vars(["nocolon"])


@pytest.mark.anyio
async def test_dev_server_serves_the_worker_over_real_http(tmp_path: Path) -> None:
    emulator = Emulator.from_config(
        PROJECT / "wrangler.toml", clock=RealClock(), persist_to=tmp_path, dev_mode=True
    )
    async with emulator:
        await emulator.apply_migrations("DB")
        lines = describe(emulator)
        assert any("env.DB" in line and "D1" in line for line in lines)
        assert any("env.NOTES (notes)" in line and "Queue" in line for line in lines)
        assert any("consumer of notes" in line for line in lines)
        assert any("cron trigger '* * * * *'" in line for line in lines)
        server = make_server(emulator, ip="127.0.0.1", port=0, test_scheduled=True)
        serving = asyncio.create_task(server.serve())
        try:
            with anyio_fail_after(10):
                while not server.started:
                    await asyncio.sleep(0)
            port = server.servers[0].sockets[0].getsockname()[1]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                assert (await http.post("/", content="first")).status_code == 202
                await emulator.drain()
                scheduled = await http.get("/__scheduled", params={"cron": "* * * * *"})
                assert scheduled.status_code == 200
                body = (await http.get("/")).json()
        finally:
            server.should_exit = True
            await serving
    assert body == {"greeting": "hello", "notes": ["first", "cron * * * * *"]}


def anyio_fail_after(seconds: float) -> object:
    import anyio

    return anyio.fail_after(seconds)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.anyio
async def test_cfemu_dev_process_serves_then_shuts_down_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cfemu",
        "dev",
        "-c",
        str(PROJECT / "wrangler.toml"),
        "--port",
        str(port),
        "--persist-to",
        str(tmp_path / "state"),
        "--var",
        "GREETING:hi",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    output: list[str] = []
    try:
        async with asyncio.timeout(30):
            while True:
                line = (await proc.stdout.readline()).decode()
                assert line, f"cfemu dev exited early:\n{''.join(output)}"
                output.append(line)
                if "Ready on" in line:
                    break
        assert any("env.GREETING" in line for line in output)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.get("/")
        # migrations are not applied automatically by dev: the table is missing -> 500
        assert response.status_code == 500
        assert "no such table: notes" in response.text  # dev mode shows the traceback
        # A second cfemu dev on the same state folder refuses instead of consuming too.
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cfemu",
            "dev",
            "-c",
            str(PROJECT / "wrangler.toml"),
            "--port",
            str(_free_port()),
            "--persist-to",
            str(tmp_path / "state"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        async with asyncio.timeout(30):
            refused, _ = await second.communicate()
        assert second.returncode == 1
        assert f"pid {proc.pid}" in refused.decode()
        assert "in use by another cfemu process" in refused.decode()
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            rest, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    output.append(rest.decode())
    assert proc.returncode == 0, "".join(output)
    assert "Shutting down" in "".join(output)


def test_ai_options_become_the_emulators_ai_settings() -> None:
    from cfemu.cli import build_parser
    from cfemu.cli.dev import ai_settings

    args = build_parser().parse_args(
        ["dev", "--ai-latency", "0.5", "--ai-fail-rate", "0.25", "--ai-seed", "7"]
    )
    settings = ai_settings(args)
    assert (settings.mode, settings.latency_seconds, settings.fail_rate, settings.seed) == (
        "local",
        0.5,
        0.25,
        7,
    )
    bad = build_parser().parse_args(["dev", "--ai-fail-rate", "1.5"])
    with pytest.raises(ConfigError, match=r"--ai-fail-rate: .*got 1\.5"):
        ai_settings(bad)
