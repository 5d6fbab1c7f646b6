"""cfemu's CPython stand-in for Cloudflare's Python ``workers`` module.

While cfemu imports a Worker module, and while the Worker handles an event, ``import
workers`` resolves to this module (see :mod:`cfemu.runtime._scope`); outside those times
``sys.modules["workers"]`` is left as it was. It offers every public name of Cloudflare's
SDK (``workers-runtime-sdk`` 1.9.5; spec: workers-and-config.md Appendix A).

``env``, ``waitUntil`` and ``wait_until`` are resolved lazily, as in the SDK: ``env`` is the
env of the Worker running in the current context (``from workers import env`` works at a
Worker module's top level), and ``wait_until(coro)`` hands work to the current event's
``ctx.waitUntil``. Not emulated (they import, and raise
:class:`~cfemu.errors.NotEmulatedError` when used): ``DurableObject``, ``WorkflowEntrypoint``,
``import_from_javascript`` for anything but ``"cloudflare:workers"``, WebSockets.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from http import HTTPMethod
from types import SimpleNamespace
from typing import Any, TypeAlias, TypedDict

from cfemu.errors import NotEmulatedError
from cfemu.runtime import _scope
from cfemu.runtime.body import Blob, BlobEnding, BlobValue, File, FormData, FormDataValue
from cfemu.runtime.entrypoints import Context, DurableObject, WorkerEntrypoint, WorkflowEntrypoint
from cfemu.runtime.env import Env
from cfemu.runtime.http import Body, FetchResponse, Headers, Request, Response
from cfemu.runtime.outbound import fetch
from cfemu.runtime.rpc import python_from_rpc, python_to_rpc

#: A body given as a "JavaScript" value; in cfemu these are the Python body types.
JSBody: TypeAlias = "Blob | FormData | bytes"


class RequestInitCfProperties(TypedDict, total=False):
    """The ``cf`` options of an outbound ``fetch`` (accepted, ignored locally)."""

    apps: bool | None
    cacheEverything: bool | None
    cacheKey: str | None
    cacheTags: list[str] | None
    cacheTtl: int
    cacheTtlByStatus: dict[str, int]
    image: Any | None
    mirage: bool | None
    polish: str | None
    resolveOverride: str | None
    scrapeShield: bool | None
    webp: bool | None


class FetchKwargs(TypedDict, total=False):
    """The keyword arguments of :func:`fetch` and :class:`Request`."""

    headers: Any
    body: Body | None
    method: HTTPMethod | str | None
    redirect: str | None
    cf: RequestInitCfProperties | None
    fetcher: Callable[..., Any] | None


def handler(func: Callable[..., Any]) -> Callable[..., Any]:
    """Legacy decorator for module-level ``on_fetch`` handlers; a pass-through in cfemu.

    On Cloudflare it converted JavaScript arguments to the SDK's Python types; cfemu's
    ``Request`` and ``Env`` are Python already.
    """
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await func(*args, **kwargs)

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def _wait_until(awaitable: Awaitable[Any]) -> None:
    """``workers.waitUntil``: extend the current event with ``awaitable``."""
    state = _scope.require_state("workers.waitUntil()")
    if state.ctx is None:
        raise RuntimeError(
            "waitUntil() can only be called while the Worker handles an event, "
            "not while its module is being imported"
        )
    state.ctx.waitUntil(awaitable)


@contextmanager
def patch_env(
    d: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None, **kwds: Any
) -> Iterator[None]:
    """Within the block, ``workers.env`` also has (or overrides) the given bindings.

    ``self.env`` is unchanged, as on Cloudflare. Outside a Worker the patched env starts
    empty, which lets unit tests give code that reads ``workers.env`` the values it needs.
    """
    values = dict(d) | kwds if d else dict(kwds)
    state = _scope.current.get()
    if state is None:
        from cfemu.clock import RealClock

        state = _scope.DispatchState(worker_name="patch_env", env=Env(), clock=RealClock())
    token = _scope.current.set(state.with_env(Env({**state.env, **values})))
    try:
        yield
    finally:
        _scope.current.reset(token)


def _cloudflare_workers_module() -> SimpleNamespace:
    namespace = SimpleNamespace(waitUntil=_wait_until)
    state = _scope.require_state("import_from_javascript('cloudflare:workers')")
    namespace.env = state.env
    return namespace


def import_from_javascript(module_name: str) -> Any:
    """Import a JavaScript module: only ``"cloudflare:workers"`` (``env``, ``waitUntil``)
    exists in cfemu; anything else raises :class:`~cfemu.errors.NotEmulatedError`."""
    if module_name == "cloudflare:workers":
        return _cloudflare_workers_module()
    raise NotEmulatedError(
        f"import_from_javascript({module_name!r}): cfemu runs Python Workers in CPython and "
        "has no JavaScript modules (only 'cloudflare:workers' is provided)"
    )


def __getattr__(name: str) -> Any:
    if name == "env":
        return _scope.require_state("workers.env").env
    if name in ("waitUntil", "wait_until"):
        return _wait_until
    raise AttributeError(f"module 'workers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"env", "waitUntil", "wait_until"})


from cfemu.runtime.workers_module import asgi as asgi  # noqa: E402  (workers.asgi, as in the SDK)

__all__ = [
    "Blob",
    "BlobEnding",
    "BlobValue",
    "Body",
    "Context",
    "DurableObject",
    "FetchKwargs",
    "FetchResponse",
    "File",
    "FormData",
    "FormDataValue",
    "Headers",
    "JSBody",
    "Request",
    "RequestInitCfProperties",
    "Response",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "env",
    "fetch",
    "handler",
    "import_from_javascript",
    "patch_env",
    "python_from_rpc",
    "python_to_rpc",
    "waitUntil",
    "wait_until",
]
