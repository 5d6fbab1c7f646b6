"""JavaScript promises as Pyodide shows them: awaitable, with ``then``/``catch``/``finally_``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from cfemu.runtime.js_module.proxy import JsProxy

__all__ = ["JsPromise"]


class JsPromise(JsProxy):
    """A JavaScript ``Promise``: ``await`` it, or chain ``then``/``catch``/``finally_``.

    The work behind it starts when it is first awaited (or chained) and runs once; it can
    be awaited any number of times.
    """

    __slots__ = ("_awaitable", "_future", "_settled")
    js_class = "Promise"

    def __init__(self, awaitable: Awaitable[Any]) -> None:
        self._awaitable: Awaitable[Any] | None = awaitable
        self._future: asyncio.Future[Any] | None = None
        self._settled: tuple[Any] | None = None

    @classmethod
    def resolve(cls, value: Any) -> JsPromise:
        """A promise already fulfilled with ``value`` (awaiting it does not suspend)."""
        promise = cls.__new__(cls)
        promise._awaitable = None
        promise._future = None
        promise._settled = (value,)
        return promise

    def _start(self) -> asyncio.Future[Any]:
        if self._future is None:
            awaitable = self._awaitable
            assert awaitable is not None
            self._awaitable = None
            self._future = asyncio.ensure_future(awaitable)
            self._future.add_done_callback(_consume)
        return self._future

    def __await__(self) -> Generator[Any, None, Any]:
        if self._settled is not None:
            return self._settled[0]
        return (yield from self._start().__await__())

    def then(
        self,
        onfulfilled: Callable[[Any], Any] | None = None,
        onrejected: Callable[[Any], Any] | None = None,
    ) -> JsPromise:
        """A promise of ``onfulfilled(value)`` (or ``onrejected(error)``)."""

        async def chained() -> Any:
            try:
                value = await self
            except Exception as exc:
                if onrejected is None:
                    raise
                result = onrejected(exc)
            else:
                result = onfulfilled(value) if onfulfilled is not None else value
            if inspect.isawaitable(result):
                result = await result
            return result

        return JsPromise(chained())

    def catch(self, onrejected: Callable[[Any], Any]) -> JsPromise:
        """A promise recovering from a rejection with ``onrejected``."""
        return self.then(None, onrejected)

    def finally_(self, onfinally: Callable[[], Any]) -> JsPromise:
        """A promise that runs ``onfinally`` once this one settles."""

        async def chained() -> Any:
            try:
                return await self
            finally:
                result = onfinally()
                if inspect.isawaitable(result):
                    await result

        return JsPromise(chained())


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # a rejection nobody awaited is not an asyncio warning
