"""Containing what a Worker raises, ``BaseException`` included.

On Cloudflare a Worker cannot stop the runtime: whatever its code raises (``SystemExit``,
``KeyboardInterrupt``, a ``CancelledError`` it made up) fails that one invocation. In one
CPython process those exceptions would escape asyncio's tasks and stop the event loop, so
every place that runs Worker code (a handler, ``waitUntil`` work) passes what it caught
through :func:`contained`, which turns it into an ordinary failure.

Two exceptions are not the Worker's and keep propagating:

* a ``CancelledError`` while the running task has a cancellation pending (cfemu itself
  cancelled the task: shutdown, a consumer's wall-clock limit);
* a ``KeyboardInterrupt`` after a real SIGINT reached the process while
  :func:`watch_signals` was installed (``cfemu dev`` receives signals through uvicorn,
  which never raises them inside Worker code).

``GeneratorExit`` always propagates: it is how Python closes a coroutine.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from cfemu.errors import WorkerEscapeError

__all__ = ["contained", "watch_signals"]

_signalled = False


def contained(exc: BaseException, worker: str, where: str) -> Exception:
    """What a failure caught around Worker code becomes; re-raises what is not the Worker's.

    An ``Exception`` is returned as it is; any other ``BaseException`` the Worker raised
    becomes a :class:`WorkerEscapeError` naming the Worker (``worker`` is its name, or a
    description such as ``"the consumer of queue 'jobs'"``), ``where`` (``"queue()"``,
    ``"a waitUntil() task"``) and the original exception.
    """
    if isinstance(exc, Exception):
        return exc
    if isinstance(exc, GeneratorExit) or _not_the_workers(exc):
        raise exc
    who = worker if " " in worker else f"Worker {worker!r}"
    error = WorkerEscapeError(
        f"{who}: {where} raised {type(exc).__name__}{_args(exc)}; a Worker cannot stop "
        f"the emulator, so the invocation failed"
    )
    error.__cause__ = exc
    return error


def _not_the_workers(exc: BaseException) -> bool:
    if isinstance(exc, asyncio.CancelledError):
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            return True
        return task is None or task.cancelling() > 0
    return isinstance(exc, KeyboardInterrupt) and _signalled


def _args(exc: BaseException) -> str:
    return f"({', '.join(repr(a) for a in exc.args)})" if exc.args else ""


def watch_signals() -> Callable[[], None]:
    """Note real SIGINTs, so a ``KeyboardInterrupt`` they raise is never contained.

    Wraps the current SIGINT handler (only in the main thread, only if it is a Python
    callable) with one that records the signal and calls it. Returns the function that
    puts the previous handler back (a no-op if another handler replaced ours since).
    """
    if threading.current_thread() is not threading.main_thread():
        return _nothing
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        return _nothing

    def noted(signum: int, frame: FrameType | None) -> Any:
        global _signalled
        _signalled = True
        return previous(signum, frame)

    signal.signal(signal.SIGINT, noted)

    def restore() -> None:
        if signal.getsignal(signal.SIGINT) is noted:
            signal.signal(signal.SIGINT, previous)

    return restore


def _nothing() -> None:
    return None
