"""cfemu's CPython stand-in for Cloudflare's Python ``workers`` module.

While cfemu imports a Worker module, and while the Worker handles an event, ``import
workers`` resolves to this module (see :mod:`cfemu.runtime._scope`); outside those times
``sys.modules["workers"]`` is left as it was. It offers every public name of Cloudflare's
SDK (``workers-runtime-sdk`` 1.9.5; spec: workers-and-config.md Appendix A).

``env``, ``waitUntil`` and ``wait_until`` are resolved lazily, as in the SDK: ``env`` is the
env of the Worker running in the current context (``from workers import env`` works at a
Worker module's top level), and ``wait_until(coro)`` hands work to the current event's
``ctx.waitUntil``. Not emulated (they import, and raise
:class:`~cfemu.errors.NotEmulatedError` when used):
``import_from_javascript`` for anything but ``"cloudflare:workers"``/``"cloudflare:sockets"``,
WebSockets. ``workers.asgi``, ``workers.wsgi``, ``workers.rpc`` and ``workers.workflows``
are submodules, as in the SDK.
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


def _sdk_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A ``js.Request`` first argument becomes a :class:`Request`, as the SDK converts it."""
    if args and hasattr(args[0], "__cfemu_request__"):
        return (args[0].__cfemu_request__(), *args[1:])
    return args


def handler(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for legacy module-level ``on_fetch`` handlers: a ``js.Request`` argument
    becomes a ``workers.Request`` (cfemu's env is Python already)."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await func(*_sdk_args(args), **kwargs)

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*_sdk_args(args), **kwargs)

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


class JavaScriptImportError(NotEmulatedError, ImportError):
    """``import_from_javascript`` of a module cfemu does not have (an ``ImportError``, as
    Cloudflare's SDK raises, and a :class:`~cfemu.errors.NotEmulatedError`)."""


def _not_emulated(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NotEmulatedError(f"{what}: not emulated by cfemu")

    return refuse


def import_from_javascript(module_name: str) -> Any:
    """Import a JavaScript module, as Cloudflare's SDK does.

    ``"cloudflare:workers"`` (``env``, ``waitUntil``) works everywhere, and
    ``"cloudflare:sockets"`` imports (its ``connect`` raises ``NotEmulatedError``). Any other
    module raises ``ImportError`` with the SDK's wording: at a module's top level, "Only
    'cloudflare:workers' and 'cloudflare:sockets' are available in the global scope."; inside
    a request, that cfemu has no such JavaScript module.
    """
    if module_name == "cloudflare:workers":
        state = _scope.require_state("import_from_javascript('cloudflare:workers')")
        return SimpleNamespace(
            env=state.env,
            waitUntil=_wait_until,
            withEnv=_not_emulated("cloudflare:workers withEnv()"),
        )
    if module_name == "cloudflare:sockets":
        return SimpleNamespace(connect=_not_emulated("cloudflare:sockets connect()"))
    running = _scope.current.get()
    if running is None or running.ctx is None:
        raise JavaScriptImportError(
            f"Failed to import '{module_name}': Only 'cloudflare:workers' and "
            "'cloudflare:sockets' are available in the global scope."
        )
    raise JavaScriptImportError(
        f"Failed to import '{module_name}': cfemu runs Python Workers in CPython and has no "
        f"JavaScript module {module_name!r} (only 'cloudflare:workers' and "
        "'cloudflare:sockets')"
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
from cfemu.runtime.workers_module import rpc as rpc  # noqa: E402
from cfemu.runtime.workers_module import workflows as workflows  # noqa: E402
from cfemu.runtime.workers_module import wsgi as wsgi  # noqa: E402

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
