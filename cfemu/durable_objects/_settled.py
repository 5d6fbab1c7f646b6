"""Already-settled awaitables: what a JavaScript promise of a synchronous operation is.

The storage API does its work when called (as Cloudflare does: a ``put`` not awaited still
happens) and returns one of these; awaiting it gives the value, or raises the error, without
yielding to the event loop, so no other event can run in between (the input gate holds).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

__all__ = ["Settled", "settle"]

T = TypeVar("T")


class Settled(Generic[T]):
    """An awaitable holding a result or an error."""

    __slots__ = ("_error", "_value")

    def __init__(self, value: T | None = None, error: BaseException | None = None) -> None:
        self._value = value
        self._error = error

    def __await__(self) -> Generator[Any, None, T]:
        yield from ()  # a generator that never suspends
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def __repr__(self) -> str:
        state = f"error={self._error!r}" if self._error is not None else f"value={self._value!r}"
        return f"<settled {state}>"


def settle(fn: Callable[[], T]) -> Settled[T]:
    """Run ``fn`` now; its result or its ``Exception`` is what awaiting gives."""
    try:
        return Settled(fn())
    except Exception as exc:
        return Settled(error=exc)
