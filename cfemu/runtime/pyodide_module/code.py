"""``pyodide.code``: ``relaxed_call`` and ``relaxed_wrap``, as Cloudflare's runtime uses
them to call handlers with the arguments they accept."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["relaxed_call", "relaxed_wrap"]


def _accepts(func: Callable[..., Any]) -> tuple[int | None, set[str] | None]:
    """How many positional arguments ``func`` takes (``None``: any) and which keywords."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return None, None
    positional: int | None = 0
    keywords: set[str] | None = set()
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            positional = None
        elif p.kind is p.VAR_KEYWORD:
            keywords = None
        else:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and positional is not None:
                positional += 1
            if p.kind is not p.POSITIONAL_ONLY and keywords is not None:
                keywords.add(p.name)
    return positional, keywords


def relaxed_call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` dropping the extra positional and unknown keyword arguments it does not
    accept; missing arguments still raise ``TypeError``."""
    positional, keywords = _accepts(func)
    if positional is not None:
        args = args[:positional]
    if keywords is not None:
        kwargs = {k: v for k, v in kwargs.items() if k in keywords}
    return func(*args, **kwargs)


def relaxed_wrap(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` wrapped so that it is always called with :func:`relaxed_call`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return relaxed_call(func, *args, **kwargs)

    return wrapper


def __getattr__(name: str) -> Any:
    from cfemu.errors import NotEmulatedError

    if name.startswith("_"):
        raise AttributeError(name)
    raise NotEmulatedError(f"pyodide.code.{name}: not emulated by cfemu")
