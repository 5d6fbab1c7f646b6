"""``cfemu dev``'s single-key shortcuts: ``e`` opens the Local Explorer, ``b`` the Worker,
``x`` stops; keys are read from a real (pseudo-)terminal put in cbreak mode and restored."""

from __future__ import annotations

import asyncio
import os
import sys

import anyio
import pytest

from cfemu.cli.hotkeys import Hotkey, Hotkeys, dev_hotkeys, start_dev_hotkeys

URL = "http://127.0.0.1:8787"


def recorder(explorer: bool = True) -> tuple[Hotkeys, list[str], list[str]]:
    opened: list[str] = []
    said: list[str] = []
    keys = dev_hotkeys(
        URL,
        explorer=explorer,
        stop=lambda: opened.append("stop"),
        open_url=opened.append,
        echo=said.append,
    )
    return keys, opened, said


def test_e_opens_the_explorer_b_the_worker_and_x_stops() -> None:
    keys, opened, said = recorder()
    keys.handle("e")
    keys.handle("B")
    keys.handle("zq\n")  # not shortcuts: nothing happens
    keys.handle("x")
    assert opened == [f"{URL}/cdn-cgi/local/explorer", URL, "stop"]
    assert said[0] == f"⎔ Opening {URL}/cdn-cgi/local/explorer"
    assert keys.hint() == (
        "[b] open a browser, [e] open the Local Explorer, [c] clear console, [x] to exit"
    )


def test_e_says_so_when_the_explorer_is_not_served() -> None:
    keys, opened, said = recorder(explorer=False)
    keys.handle("e")
    assert opened == [] and "not served" in said[0] and "--explorer" in said[0]


def test_a_failing_action_is_reported_not_raised() -> None:
    def broken() -> None:
        raise RuntimeError("no display")

    said: list[str] = []
    keys = Hotkeys({"b": Hotkey("open a browser", broken)}, echo=said.append)
    keys.handle("b")
    assert said == ["✘ [b] open a browser: no display"]


def test_keys_are_not_read_from_something_that_is_not_a_terminal() -> None:
    read, write = os.pipe()
    try:
        assert recorder()[0].start(read) is False
    finally:
        os.close(read)
        os.close(write)


@pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals")
@pytest.mark.anyio
async def test_a_key_typed_in_the_terminal_runs_its_action_and_the_mode_is_restored() -> None:
    import termios

    master, slave = os.openpty()
    pressed = asyncio.Event()
    keys = Hotkeys({"e": Hotkey("open the Local Explorer", pressed.set)})
    try:
        before = termios.tcgetattr(slave)
        assert keys.start(slave) is True
        assert not termios.tcgetattr(slave)[3] & termios.ICANON  # keys arrive one by one
        os.write(master, b"e")  # no Enter
        with anyio.fail_after(5):
            await pressed.wait()
        keys.stop()
        keys.stop()  # idempotent
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_cfemu_dev_starts_no_keys_without_a_terminal() -> None:
    class Server:
        should_exit = False

    assert start_dev_hotkeys(URL, explorer=True, server=Server()) is None  # pytest's stdin


@pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals")
@pytest.mark.anyio
async def test_x_in_an_interactive_cfemu_dev_asks_the_server_to_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Server:
        should_exit = False

    server = Server()
    master, slave = os.openpty()
    tty_in = open(slave, closefd=False)  # noqa: SIM115
    tty_out = open(slave, "w", closefd=False)  # noqa: SIM115
    monkeypatch.setattr("sys.stdin", tty_in)
    monkeypatch.setattr("sys.stdout", tty_out)
    try:
        keys = start_dev_hotkeys("http://0.0.0.0:8787", explorer=True, server=server)
        assert keys is not None
        assert b"[e] open the Local Explorer" in os.read(master, 1000)  # the hint line
        os.write(master, b"x")
        with anyio.fail_after(5):
            while not server.should_exit:
                await asyncio.sleep(0)
        keys.stop()
    finally:
        tty_in.close()
        tty_out.close()
        os.close(master)
        os.close(slave)
