"""Loading a Python Worker and dispatching events to its handlers.

spec: workers-and-config.md §1-2, python-runtime.md §5. Which functions handle which event
depends on the compatibility date (:mod:`cfemu.runtime.handlers`): a ``Default``
entrypoint class, or (before 2025-08-14) module-level ``on_fetch``/``on_queue``/
``on_scheduled``. Each event gets a fresh ``Default(ctx, env)``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import traceback
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import CoroutineType, ModuleType
from typing import Any

import httpx

from cfemu._contain import contained
from cfemu._tasks import TaskTracker
from cfemu.clock import Clock, RealClock
from cfemu.compat import Compat, resolve
from cfemu.errors import WorkerError
from cfemu.limits import DEFAULT_MAX_REQUEST_BODY_BYTES
from cfemu.runtime._importing import import_file, import_name, module_prefix
from cfemu.runtime._modules import ModuleSpace, ensure_finder, run_in
from cfemu.runtime._scope import DispatchState, current, import_scope
from cfemu.runtime.context import ExecutionContext, ScheduledController
from cfemu.runtime.entrypoints import WorkerEntrypoint
from cfemu.runtime.env import Env
from cfemu.runtime.handlers import EVENTS, Handler, HandlerSet, discover
from cfemu.runtime.http import FetchResponse, Request, Response
from cfemu.runtime.js_module.web import JsRequest

__all__ = ["HANDLER_NAMES", "Worker", "payload_too_large"]

#: The events cfemu dispatches, by Cloudflare's handler name.
HANDLER_NAMES = EVENTS
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

#: Body of the 500 answered for an unhandled exception outside dev mode.
WORKER_THREW = "Worker threw exception"


def payload_too_large(limit: int) -> Response:
    """The 413 answered for a request body over ``limit`` bytes."""
    return Response(f"Payload Too Large: request bodies are limited to {limit} bytes", 413)


def _describe_nothing(found: HandlerSet) -> str:
    if not found.ignored:
        return "; it defines no WorkerEntrypoint subclass and no handler"
    return "; found " + " and ".join(found.ignored)


class Worker:
    """One loaded Worker: its module, its ``Default`` class, its env, and how to call it.

    Build it with :meth:`load`. :meth:`fetch` never raises (an exception becomes a 500);
    :meth:`queue` and :meth:`scheduled` raise when the invocation failed.
    """

    def __init__(
        self,
        *,
        name: str,
        main: str,
        module: ModuleType,
        handlers: HandlerSet,
        env: Env,
        clock: Clock,
        tracker: TaskTracker,
        compat: Compat | None = None,
        dev_mode: bool = False,
        max_request_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_BYTES,
        outbound: httpx.AsyncBaseTransport | None = None,
        logger: logging.Logger | None = None,
        import_paths: tuple[str, ...] = (),
        modules: ModuleSpace | None = None,
    ) -> None:
        if max_request_body_bytes < 0:
            raise ValueError(f"max_request_body_bytes must be >= 0, got {max_request_body_bytes}")
        self.name = name
        self.main = main
        self.module = module
        #: The ``Default`` entrypoint class, or ``None`` for module-level (legacy) handlers.
        self.entrypoint = handlers.entrypoint
        self.env = env
        self.clock = clock
        self.tracker = tracker
        #: The Worker's compatibility date and flags (what its handlers and bindings follow).
        self.compat = compat if compat is not None else resolve(None)
        self.dev_mode = dev_mode
        self.max_request_body_bytes = max_request_body_bytes
        self.outbound = outbound
        self.logger = logger or logging.getLogger("cfemu.runtime")
        self.import_paths = import_paths
        #: The Worker's own sibling modules, kept apart from other Workers' (see ModuleSpace).
        self.modules = modules if modules is not None else ModuleSpace(None)
        self._handlers: Mapping[str, Handler] = handlers.handlers
        self._no_wait = self.compat.enabled("queue_consumer_no_wait_for_wait_until")
        for warning in handlers.warnings:
            self.logger.warning("Worker %r: %s", name, warning)

    # --- loading ---------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        main: str | Path,
        *,
        name: str,
        env: Env | Mapping[str, Any] | None = None,
        clock: Clock,
        tracker: TaskTracker,
        dev_mode: bool = False,
        max_request_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_BYTES,
        outbound: httpx.AsyncBaseTransport | None = None,
        logger: logging.Logger | None = None,
        compat: Compat | None = None,
    ) -> Worker:
        """Import the Worker module ``main`` and find its handlers.

        ``main`` is a ``.py`` file (its folder becomes importable, so sibling modules import
        as on Cloudflare) or a dotted module name. While the module is imported, ``import
        workers`` is cfemu's stand-in and ``workers.env`` is ``env``. ``outbound`` is the
        httpx transport ``workers.fetch`` uses (default: the network). ``compat`` (default:
        the newest compatibility date) decides which functions are handlers
        (:mod:`cfemu.runtime.handlers`). Raises :class:`~cfemu.errors.WorkerError` when the
        module cannot be imported or has no handler and no entrypoint class at all.
        """
        env = env if isinstance(env, Env) else Env(env)
        compat = compat if compat is not None else resolve(None)
        main_str = str(main)
        is_file = isinstance(main, Path) or main_str.endswith(".py") or "/" in main_str
        if is_file:
            path = Path(main).resolve()
            if not path.is_file():
                raise WorkerError(f"Worker {name!r}: main module {path} does not exist")
            import_paths: tuple[str, ...] = (str(path.parent),)
            modules = ModuleSpace(path.parent)
            if modules.names <= {path.stem}:  # no siblings: nothing to keep apart
                modules = ModuleSpace(None)
        elif _MODULE_NAME.match(main_str):
            import_paths = ()
            modules = ModuleSpace(None)
        else:
            raise WorkerError(
                f"Worker {name!r}: main must be a .py file or a dotted module name, got "
                f"{main_str!r}"
            )
        state = DispatchState(
            worker_name=name, env=env, clock=clock, outbound=outbound, compat=compat
        )
        token = current.set(state)
        try:
            with import_scope.active(import_paths), modules.installed():
                if modules:
                    ensure_finder()
                module = import_file(path, name) if is_file else import_name(main_str, name)
        finally:
            current.reset(token)
        if is_file and path.stem in modules.names:
            modules.modules[path.stem] = module  # a sibling's `import entry` gets this one
        entrypoint = getattr(module, "Default", None)
        if entrypoint is not None and not (
            isinstance(entrypoint, type) and issubclass(entrypoint, WorkerEntrypoint)
        ):
            hint = ""
            if isinstance(entrypoint, type) and any(
                b.__name__ == "WorkerEntrypoint" for b in entrypoint.__mro__
            ):
                hint = (
                    " (it derives from another module's WorkerEntrypoint: was Cloudflare's "
                    "`workers` imported before cfemu loaded the Worker?)"
                )
            raise WorkerError(
                f"Worker {name!r} ({main_str}): `Default` must be a class deriving from "
                f"workers.WorkerEntrypoint, found {entrypoint!r}{hint}"
            )
        found = discover(module, compat)
        if found.entrypoint is None and not found.handlers and not found.classes:
            # Cloudflare would deploy it and fail every event with "Handler does not export a
            # fetch() function."; a module exporting nothing at all is refused here instead.
            raise WorkerError(
                f"Worker {name!r} ({main_str}): the module exports no handler: define "
                f"`class Default(WorkerEntrypoint)`{_describe_nothing(found)}"
            )
        return cls(
            name=name,
            main=main_str,
            module=module,
            handlers=found,
            env=env,
            clock=clock,
            tracker=tracker,
            compat=compat,
            dev_mode=dev_mode,
            max_request_body_bytes=max_request_body_bytes,
            outbound=outbound,
            logger=logger,
            import_paths=import_paths,
            modules=modules,
        )

    @classmethod
    def empty(
        cls,
        *,
        name: str,
        env: Env | Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        tracker: TaskTracker | None = None,
        dev_mode: bool = False,
    ) -> Worker:
        """A Worker without code (a config with no ``main``): it handles no event.

        Its ``fetch`` answers 500 and its ``queue``/``scheduled`` raise ``Handler does not
        export a ...() function.``, as Cloudflare does for a Worker missing the handler.
        """
        module = ModuleType(f"{module_prefix(name)}_empty")
        entrypoint = type("Default", (WorkerEntrypoint,), {"__module__": module.__name__})
        module.Default = entrypoint  # type: ignore[attr-defined]
        return cls(
            name=name,
            main="",
            module=module,
            handlers=HandlerSet({}, entrypoint),
            env=env if isinstance(env, Env) else Env(env),
            clock=RealClock() if clock is None else clock,
            tracker=TaskTracker() if tracker is None else tracker,
            dev_mode=dev_mode,
        )

    # --- dispatch --------------------------------------------------------------------------
    @property
    def handlers(self) -> frozenset[str]:
        """The events the Worker exports a handler for (of ``fetch``, ``queue``,
        ``scheduled``, ``test``)."""
        return frozenset(self._handlers)

    def has_handler(self, name: str) -> bool:
        """Whether the Worker exports a handler for the event ``name``."""
        return name in self._handlers

    def _context(self) -> ExecutionContext:
        return ExecutionContext._of_event(
            self.tracker, self.name, self.logger, self.import_paths, self.modules
        )

    def _handler(self, name: str) -> Handler:
        handler = self._handlers.get(name)
        if handler is None:
            raise WorkerError(f"Handler does not export a {name}() function.")
        return handler

    async def _invoke(self, handler: Handler, ctx: ExecutionContext, event: object) -> Any:
        """Run the handler; whatever it raises, ``BaseException`` included, is contained
        (see :mod:`cfemu._contain`) and raised as an ``Exception``.

        One coroutine for the whole invocation (the dispatch state, the import scope, the
        handler's first step, then its awaitable), not one inside another per call.
        """
        try:
            token = current.set(
                DispatchState(self.name, self.env, self.clock, ctx, self.outbound, self.compat)
            )
            paths = self.import_paths
            space = self.modules
            # import_scope.active(paths) and space.installed(), without a generator per call.
            import_scope.enter(paths)
            try:
                if space.names:  # bool(space), without a Python-level __bool__ call
                    installed = space.install()
                    try:
                        result = self._start(handler, ctx, event)
                    finally:
                        space.restore(installed)
                else:
                    result = self._start(handler, ctx, event)
                if type(result) is CoroutineType:  # the usual `async def` handler
                    return await (run_in(space, result) if space.names else result)
                if not inspect.isawaitable(result):
                    return result  # a plain `def` handler: workerd accepts sync handlers too
                return await result
            finally:
                import_scope.exit(paths)
                current.reset(token)
        except BaseException as exc:
            error = contained(exc, self.name, f"{handler.label}()")
            if error is exc:
                raise
            raise error from exc

    def _start(self, handler: Handler, ctx: ExecutionContext, event: object) -> Any:
        """Call the handler (its first step, for a coroutine function)."""
        if handler.missing is not None:
            error = TypeError(handler.missing)
            if handler.note:
                error.add_note(f"cfemu: {handler.note}")
            raise error
        if handler.on_class:
            assert self.entrypoint is not None
            func = getattr(self.entrypoint(ctx, self.env), handler.name)
            if handler.nargs == 1:  # the usual `async def fetch(self, request)`
                try:
                    return func(event)
                except TypeError as exc:
                    if handler.note:
                        exc.add_note(f"cfemu: {handler.note}")
                    raise
            args: tuple[object, ...] = (event, None, None)
        else:
            func = getattr(self.module, handler.name)
            if handler.event == "fetch" and isinstance(event, Request):
                # a module-level on_fetch gets the raw js.Request (spec §5)
                event = JsRequest(event)
            args = (event, self.env, ctx)
        try:
            return func(*args[: handler.nargs])
        except TypeError as exc:
            if handler.note:  # a strict call to a method taking too few arguments
                exc.add_note(f"cfemu: {handler.note}")
            raise

    async def fetch(self, request: Request) -> FetchResponse:
        """Run ``Default.fetch`` for ``request``; never raises.

        A body over ``max_request_body_bytes`` gets a 413 without running the Worker. An
        exception (or a result that is not a Response) is logged with its traceback on the
        ``cfemu.runtime`` logger and becomes a 500 whose body shows the traceback only in
        dev mode. ``waitUntil`` work keeps running after the response is returned.
        """
        body = request.raw_body()
        if body is not None and len(body) > self.max_request_body_bytes:
            return payload_too_large(self.max_request_body_bytes)
        ctx = self._context()
        try:
            result = await self._invoke(self._handler("fetch"), ctx, request)
            if isinstance(result, FetchResponse):
                return result
            unwrap = getattr(result, "__cfemu_response__", None)
            if unwrap is not None:  # a js.Response (cfemu.runtime.js_module)
                result = unwrap()
            if not isinstance(result, FetchResponse):
                # Cloudflare unwraps a pyodide FetchResponse (spec: python-runtime.md §5).
                inner = getattr(result, "js_response", None)
                if isinstance(inner, FetchResponse):
                    return inner
                raise WorkerError(
                    f"Worker {self.name!r}: fetch() must return a workers.Response, got "
                    f"{type(result).__name__}"
                )
            return result
        except Exception as exc:
            return self._exception_response(exc, ctx)

    def _exception_response(self, exc: Exception, ctx: ExecutionContext) -> Response:
        self.logger.error("Worker %r: unhandled exception in fetch()", self.name, exc_info=exc)
        if ctx.pass_through_on_exception:
            self.logger.warning(
                "Worker %r called passThroughOnException(), but cfemu has no origin to pass "
                "the request to: answering 500",
                self.name,
            )
        text = "".join(traceback.format_exception(exc)) if self.dev_mode else WORKER_THREW
        return Response(text, 500)

    async def queue(self, batch: Any) -> None:
        """Run ``Default.queue`` for ``batch`` and wait for its ``waitUntil`` work.

        Raises what the handler (or, after it returned, a ``waitUntil`` task) raised: the
        invocation failed and the broker retries the batch (spec: queues.md §4.2). With the
        flag ``queue_consumer_no_wait_for_wait_until`` the outcome is the handler's alone:
        ``waitUntil`` work keeps running (and a failure is only logged), as after ``fetch``.
        """
        handler = self._handler("queue")
        ctx = self._context()
        try:
            await self._invoke(handler, ctx, batch)
            if not self._no_wait:
                await ctx.settle()
        except asyncio.CancelledError:
            ctx.cancel_pending()  # the invocation was ended (shutdown, wall-clock limit)
            raise

    async def scheduled(
        self, cron: str, scheduled_time: float | datetime | None = None
    ) -> ScheduledController:
        """Run ``Default.scheduled`` for the trigger ``cron`` and wait for its work.

        ``scheduled_time`` (seconds since the epoch, or a ``datetime``) defaults to the
        clock's now; the handler sees it as ``controller.scheduledTime`` in milliseconds.
        Returns the controller (``controller.no_retry`` tells whether ``noRetry()`` was
        called); raises when the invocation failed.
        """
        handler = self._handler("scheduled")
        if scheduled_time is None:
            when_ms = self.clock.now_ms()
        elif isinstance(scheduled_time, datetime):
            when_ms = int(scheduled_time.timestamp() * 1000)
        else:
            when_ms = int(scheduled_time * 1000)
        controller = ScheduledController(cron, when_ms)
        ctx = self._context()
        try:
            await self._invoke(handler, ctx, controller)
            await ctx.settle()
        except asyncio.CancelledError:
            ctx.cancel_pending()
            raise
        return controller

    async def test(self) -> None:
        """Run the Worker's ``test`` handler (``wrangler``'s test event) and wait for its work.

        The handler gets ``None`` as its controller (as the SDK converts it); raises what it
        raised, or ``Handler does not export a test() function.``.
        """
        handler = self._handler("test")
        ctx = self._context()
        try:
            await self._invoke(handler, ctx, None)
            await ctx.settle()
        except asyncio.CancelledError:
            ctx.cancel_pending()
            raise

    def __repr__(self) -> str:
        return f"Worker(name={self.name!r}, main={self.main!r}, handlers={sorted(self._handlers)})"
