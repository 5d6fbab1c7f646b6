"""The input gate of one Durable Object (spec: durable-objects.md §5).

Cloudflare delivers an object's events one at a time, interleaving them only where the
object awaits something other than its own storage. cfemu's storage never yields to the
event loop (its awaitables are already settled), so that part holds by construction; what
this module adds is ``blockConcurrencyWhile``: while a callback holds the gate, no other
event starts and no event already running resumes, until the callback ends.

Every event (and every callback) runs with a *token*; :func:`gated` drives its coroutine
and, before each step, waits until the gate is open for that token. Holders nest: the
innermost ``blockConcurrencyWhile`` runs, its callers wait.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Coroutine, Generator
from contextvars import ContextVar
from typing import Any

from cfemu.durable_objects.errors import DurableObjectError
from cfemu.limits import DO_MAX_BLOCK_CONCURRENCY_DEPTH

__all__ = ["InputGate", "current_token", "gated"]

#: The token of the event (or callback) whose code is running.
current_token: ContextVar[object | None] = ContextVar("cfemu_do_event", default=None)


class InputGate:
    """Who may run now: anyone when no callback holds the gate, else the innermost one."""

    __slots__ = ("_holders", "_waiters")

    def __init__(self) -> None:
        self._holders: list[object] = []
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def held(self) -> bool:
        """Whether a ``blockConcurrencyWhile`` callback holds the gate."""
        return bool(self._holders)

    def open_for(self, token: object) -> bool:
        """Whether the event or callback ``token`` may take a step now."""
        return not self._holders or self._holders[-1] is token

    async def wait(self, token: object) -> None:
        """Wait until the gate is open for ``token``."""
        while not self.open_for(token):
            future = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            await future

    def hold(self, token: object) -> None:
        """Close the gate to everyone but ``token`` (nested under the current holder)."""
        if len(self._holders) >= DO_MAX_BLOCK_CONCURRENCY_DEPTH:
            raise DurableObjectError("blockConcurrencyWhile() calls are nested too deeply.")
        self._holders.append(token)

    def release(self, token: object) -> None:
        """``token`` is done: reopen the gate for the next holder (or everyone)."""
        if token in self._holders:
            self._holders.remove(token)
        self._wake()

    def clear(self) -> None:
        """Drop every holder (the object was reset)."""
        self._holders.clear()
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)


@types.coroutine
def gated(
    gate: InputGate,
    token: object,
    coro: Coroutine[Any, Any, Any],
    check: Callable[[], None],
) -> Generator[Any, Any, Any]:
    """Run ``coro`` one step at a time, each step only while the gate is open for ``token``.

    ``check()`` runs before every step; it raises when the object was reset meanwhile, and
    the error ends ``coro`` (thrown into it) and propagates.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            while not gate.open_for(token):
                yield from gate.wait(token).__await__()
            check()
        except BaseException as exc:  # cancelled while waiting, or the object was reset
            value, error = None, exc
        reset = current_token.set(token)
        try:
            yielded = coro.send(value) if error is None else coro.throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            current_token.reset(reset)
        try:
            value, error = (yield yielded), None
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            value, error = None, exc
