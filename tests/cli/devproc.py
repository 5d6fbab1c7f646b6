"""Running the real ``cfemu`` process in tests: bounded, on loopback, no fixed sleeps."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

#: Upper bound on any one wait for the process (start-up, a reload, a response).
DEADLINE = 30.0


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_cli(*args: str, cwd: Path | None = None, timeout: float = DEADLINE) -> tuple[int, str, str]:
    """Run ``cfemu ARGS`` to completion: (exit status, stdout, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "cfemu", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"},
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


@dataclass
class DevProcess:
    """A running ``cfemu dev``: its output so far, and ways to wait on it."""

    proc: asyncio.subprocess.Process
    port: int
    lines: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr, interleaved)."""
        return "".join(self.lines)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode())
            self._changed.set()
        self._changed.set()

    async def wait_for_line(self, predicate: Callable[[str], bool], *, start: int = 0) -> str:
        """The first line (from index ``start``) matching ``predicate``, within the deadline."""
        try:
            async with asyncio.timeout(DEADLINE):
                while True:
                    self._changed.clear()
                    for line in self.lines[start:]:
                        if predicate(line):
                            return line
                    if self._reader is not None and self._reader.done():
                        raise AssertionError(f"cfemu dev exited early:\n{self.output}")
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"no such line within {DEADLINE} s:\n{self.output}") from None

    def client(self) -> httpx.AsyncClient:
        """An HTTP client for the dev server."""
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=DEADLINE)

    async def poll(self, path: str, until: Callable[[httpx.Response], bool]) -> httpx.Response:
        """GET ``path`` until ``until(response)``, within the deadline."""
        deadline = time.monotonic() + DEADLINE
        async with self.client() as http:
            while True:
                try:
                    response = await http.get(path)
                    if until(response):
                        return response
                except httpx.TransportError:
                    pass  # restarting: the listener is briefly gone
                if time.monotonic() > deadline:
                    raise AssertionError(f"{path} never satisfied the condition:\n{self.output}")
                await asyncio.sleep(0)


@asynccontextmanager
async def cfemu_dev(
    *args: str, cwd: Path | None = None, port: int | None = None
) -> AsyncIterator[DevProcess]:
    """Start ``cfemu dev ARGS --port <free>`` (no ``--port`` with ``port=0``: the config's);
    wait for "Ready on"; stop it with Ctrl-C at the end."""
    chosen = free_port() if port is None else port
    flags = ["--port", str(chosen)] if chosen else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cfemu",
        "dev",
        *args,
        *flags,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"},
    )
    dev = DevProcess(proc, chosen)
    dev._reader = asyncio.create_task(dev._read())
    try:
        ready = await dev.wait_for_line(lambda line: "Ready on" in line)
        dev.port = int(ready.strip().rsplit(":", 1)[1])
        yield dev
    finally:
        if proc.returncode is None:
            proc.send_signal(2)  # SIGINT: a clean shutdown
            try:
                async with asyncio.timeout(DEADLINE):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await dev._reader
