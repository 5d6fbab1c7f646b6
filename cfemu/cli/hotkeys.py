"""Single-key shortcuts in ``cfemu dev``'s terminal, as ``wrangler dev`` has them.

``b`` opens the Worker in a browser, ``e`` opens the Local Explorer, ``c`` clears the
terminal, ``x`` stops ``cfemu dev``. Only when standard input is a terminal: the terminal is
put in cbreak mode (keys arrive one by one, not echoed; Ctrl-C still interrupts) and
restored on exit. :class:`Hotkeys` maps keys to actions and reads them from a file
descriptor on the event loop, so it is tested on a pseudo-terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Hotkey", "Hotkeys", "dev_hotkeys", "start_dev_hotkeys"]


@dataclass(frozen=True)
class Hotkey:
    """One shortcut: what the key does (shown in the hint line) and the action."""

    label: str
    action: Callable[[], None]


class Hotkeys:
    """Keys read from a terminal, each calling its :class:`Hotkey`'s action."""

    def __init__(self, keys: Mapping[str, Hotkey], echo: Callable[[str], None] = print) -> None:
        self.keys = dict(keys)
        self.echo = echo
        self._restore: Callable[[], None] | None = None

    def hint(self) -> str:
        """The line telling which keys do what: ``[b] open a browser, [e] ...``."""
        return ", ".join(f"[{key}] {hotkey.label}" for key, hotkey in self.keys.items())

    def handle(self, data: str) -> None:
        """Run the action of every known key in ``data`` (case-insensitive); an action
        that raises is reported, never propagated (a key must not stop ``cfemu dev``)."""
        for char in data:
            hotkey = self.keys.get(char.lower())
            if hotkey is None:
                continue
            try:
                hotkey.action()
            except Exception as exc:  # e.g. no browser to open
                self.echo(f"✘ [{char}] {hotkey.label}: {exc}")

    def start(self, fd: int, loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Read keys from terminal ``fd`` on ``loop`` (cbreak mode until :meth:`stop`);
        False, doing nothing, when ``fd`` is not a terminal."""
        if sys.platform == "win32" or not os.isatty(fd):
            return False
        import termios
        import tty

        loop = loop or asyncio.get_running_loop()
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd, termios.TCSANOW)

        def read() -> None:
            try:
                data = os.read(fd, 64)
            except OSError:
                data = b""
            if not data:  # the terminal went away
                self.stop()
                return
            self.handle(data.decode("utf-8", "replace"))

        loop.add_reader(fd, read)

        def restore() -> None:
            loop.remove_reader(fd)
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)

        self._restore = restore
        return True

    def stop(self) -> None:
        """Stop reading keys and give the terminal its mode back (idempotent)."""
        restore, self._restore = self._restore, None
        if restore is not None:
            restore()


def dev_hotkeys(
    url: str,
    *,
    explorer: bool,
    stop: Callable[[], None],
    open_url: Callable[[str], Any] | None = None,
    echo: Callable[[str], None] = print,
) -> Hotkeys:
    """``cfemu dev``'s keys for a server at ``url`` (``explorer``: whether it serves the
    Local Explorer; ``stop``: what ``x`` calls; ``open_url``: default :func:`webbrowser.open`)."""

    def opener(target: str) -> Callable[[], None]:
        def action() -> None:
            if open_url is None:
                import webbrowser

                opened = webbrowser.open(target)
            else:
                opened = open_url(target)
            echo(f"⎔ Opening {target}" if opened is not False else f"⎔ Open {target}")

        return action

    def no_explorer() -> None:
        echo("⎔ The Local Explorer is not served on this address (pass --explorer to serve it)")

    def clear() -> None:
        echo("\033[2J\033[H")

    return Hotkeys(
        {
            "b": Hotkey("open a browser", opener(url)),
            "e": Hotkey(
                "open the Local Explorer",
                opener(f"{url}/cdn-cgi/local/explorer") if explorer else no_explorer,
            ),
            "c": Hotkey("clear console", clear),
            "x": Hotkey("to exit", stop),
        },
        echo,
    )


def start_dev_hotkeys(url: str, *, explorer: bool, server: Any) -> Hotkeys | None:
    """Start ``cfemu dev``'s keys and print their hint line, when both standard input and
    standard output are a terminal (an interactive session; never under a test runner or a
    pipe); ``x`` asks ``server`` (a ``uvicorn.Server``) to exit. ``None`` when not started."""
    try:
        fd = sys.stdin.fileno()
        interactive = os.isatty(fd) and sys.stdout.isatty()
    except (AttributeError, OSError, ValueError):  # replaced or closed streams
        return None
    if not interactive:
        return None
    browse = url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")

    def stop() -> None:
        server.should_exit = True

    keys = dev_hotkeys(browse, explorer=explorer, stop=stop)
    if not keys.start(fd):
        return None
    print(f"⎔ {keys.hint()}", flush=True)
    return keys
