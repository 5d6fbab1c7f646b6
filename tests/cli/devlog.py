"""Test helpers for ``cfemu dev``'s ASGI app in process: its logging set-up writing to a
buffer, and an HTTP/1.1 scope as uvicorn makes it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cfemu.cli.logs import setup_logging


class Stream(io.StringIO):
    """A stream remembering what had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


@contextmanager
def dev_logging(level: str = "log", *, colour: bool = False) -> Iterator[Stream]:
    """``cfemu dev``'s logging set-up, writing to a :class:`Stream`. pytest attaches its
    capture handlers to non-propagating loggers such as ``cfemu``; they are detached here,
    so that the set-up is the one ``cfemu dev`` runs with."""
    out = Stream()
    cfemu = logging.getLogger("cfemu")
    others = list(cfemu.handlers)
    for handler in others:
        cfemu.removeHandler(handler)
    restore = setup_logging(level, stream=out, colour=colour)
    try:
        yield out
    finally:
        restore()
        for handler in others:
            cfemu.addHandler(handler)


def http_scope(
    method: str, path: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> dict[str, Any]:
    """An ASGI HTTP/1.1 scope for ``path`` on ``localhost:8787``, with ``headers`` after
    ``Host``."""
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"localhost:8787"), *headers],
        "server": ("127.0.0.1", 8787),
    }
