"""The ``step`` object a Workflow's ``run(self, event, step)`` gets (spec §3.3-§3.5, §3.9).

Every step is recorded in the store under a cache key ``<kind>:<name>-<count>`` (``count``
numbers the calls of one name within a run, in call order, so a loop's steps stay
distinct). A ``step.do`` whose key is recorded returns the recorded result without calling
its function: replaying ``run()`` after a restart skips every completed step.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cfemu._js import to_js_dict
from cfemu.limits import (
    WORKFLOW_DEFAULT_EVENT_TIMEOUT_MS,
    WORKFLOW_MAX_SLEEP_MS,
    WORKFLOW_MAX_STEP_NAME_LENGTH,
    WORKFLOW_MAX_STEP_RESULT_BYTES,
)
from cfemu.workflows.durations import StepConfig, parse_duration, parse_step_config
from cfemu.workflows.errors import InstanceFatal, NonRetryableError, WorkflowTimeoutError

if TYPE_CHECKING:
    from cfemu.workflows.engine import LiveInstance
    from cfemu.workflows.modifier import Modifier

__all__ = ["StepCallable", "WorkflowStep"]


def _check_name(name: object) -> str:
    if (
        not isinstance(name, str)
        or len(name) > WORKFLOW_MAX_STEP_NAME_LENGTH
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    ):
        raise ValueError(
            f'Step name "{name}" exceeds max length ({WORKFLOW_MAX_STEP_NAME_LENGTH} chars) '
            "or invalid characters found"
        )
    return name


def _params(func: Callable[..., Any]) -> tuple[list[str], bool]:
    """The function's non-``ctx`` parameter names, and whether it takes ``ctx``."""
    names = [
        p.name
        for p in inspect.signature(func).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    return [n for n in names if n != "ctx"], "ctx" in names


class StepCallable:
    """What ``@step.do(...)`` returns: ``await it()`` runs the step (once per run)."""

    def __init__(
        self,
        step: WorkflowStep,
        name: str,
        func: Callable[..., Any],
        deps: list[tuple[str, StepCallable]],
        *,
        concurrent: bool,
        config: object,
        positional: bool,
    ) -> None:
        self.step = step
        self.name = name
        self.func = func
        self.deps = deps
        self.concurrent = concurrent
        self.config = config
        self.positional = positional
        self._result: asyncio.Future[Any] | None = None
        self.__name__ = getattr(func, "__name__", name)

    async def __call__(self) -> Any:
        if self._result is None:
            self._result = asyncio.get_running_loop().create_future()
            try:
                self._result.set_result(await self._execute())
            except Exception as exc:
                self._result.set_exception(exc)
                self._result.exception()  # retrieved: a later await re-raises it
                raise
            except BaseException:
                self._result.cancel()
                raise
            return self._result.result()
        return await asyncio.shield(self._result)

    async def _execute(self) -> Any:
        if self.concurrent:
            values = list(await asyncio.gather(*(dep() for _, dep in self.deps)))
        else:
            values = [await dep() for _, dep in self.deps]
        return await self.step.run_do(self, values)


class WorkflowStep:
    """The step API of one run of one instance: ``do``, ``sleep``, ``sleep_until``,
    ``wait_for_event``."""

    def __init__(self, live: LiveInstance, *, implicit: bool) -> None:
        self.live = live
        self.implicit = implicit
        self._counts: dict[str, int] = {}
        self._declared: dict[str, StepCallable] = {}
        self._steps_run = 0

    def _key(self, kind: str, name: str) -> tuple[str, int]:
        count = self._counts.get(f"{kind}:{name}", 0) + 1
        self._counts[f"{kind}:{name}"] = count
        return f"{kind}:{name}-{count}", count

    # --- step.do -----------------------------------------------------------------------------
    def do(
        self,
        name: str | Callable[..., Any] | None = None,
        depends: list[Any] | None = None,
        concurrent: bool = False,
        config: dict[str, Any] | None = None,
    ) -> Any:
        """``@step.do(name, ...)``: register the decorated function as a step.

        With ``python_workflows_implicit_dependencies`` each parameter names an earlier
        step (its result is passed) or is ``ctx``; without it, ``depends=[...]`` lists the
        steps whose results fill the non-``ctx`` parameters in order.
        """
        if self.implicit and depends is not None:
            raise TypeError("do() got an unexpected keyword argument 'depends'")
        if callable(name):
            return self._decorate(None, None, False, None)(name)
        return self._decorate(name, depends, concurrent, config)

    def _decorate(
        self, name: str | None, depends: list[Any] | None, concurrent: bool, config: object
    ) -> Callable[[Callable[..., Any]], StepCallable]:
        def decorator(func: Callable[..., Any]) -> StepCallable:
            step_name = _check_name(name if name is not None else func.__name__)
            params, _ = _params(func)
            deps: list[tuple[str, StepCallable]] = []
            if self.implicit:
                for param in params:
                    found = self._declared.get(param)
                    if found is None:
                        raise TypeError(f"Received unexpected parameter {param}")
                    deps.append((param, found))
            else:
                if params and depends is None:
                    raise TypeError(
                        f"Step has {len(params)} non-ctx parameter(s) but no 'depends' "
                        "list provided"
                    )
                given = list(depends or [])
                if params and len(given) != len(params):
                    raise TypeError(
                        f"Step declares {len(params)} non-ctx parameter(s) but 'depends' has "
                        f"{len(given)} item(s)"
                    )
                for param, dep in zip(params, given, strict=False):
                    if not isinstance(dep, StepCallable):
                        raise TypeError(
                            f"'depends' entry for parameter '{param}' is not a function "
                            "decorated with step.do"
                        )
                    deps.append((param, dep))
            made = StepCallable(
                self,
                step_name,
                func,
                deps,
                concurrent=concurrent,
                config=config,
                positional=not self.implicit,
            )
            self._declared[step_name] = made
            return made

        return decorator

    async def run_do(self, call: StepCallable, values: list[Any]) -> Any:
        """Run (or replay) one ``step.do``: the recorded result, or attempts per its config."""
        live = self.live
        key, count = self._key("do", call.name)
        await live.checkpoint()
        found, value = live.recorded(key)
        if found:
            return to_js_dict(value)  # as the SDK hands results over: dicts are JsDicts
        self._steps_run += 1
        live.check_step_limit(self._steps_run)
        cfg = parse_step_config(call.name, call.config)
        mod = live.modifier
        if mod is not None:
            mocked, result = mod.mocked_result(call.name, count)
            if mocked:  # a test's result: the function never runs
                text = _serialise(call.name, count, result)
                live.record(key, text)
                return to_js_dict(json.loads(text))
        attempt = 1
        while True:
            ctx = to_js_dict(
                {
                    "step": {"name": call.name, "count": count},
                    "attempt": attempt,
                    "config": cfg.as_dict(),
                }
            )
            history = _History(live, key)
            try:
                live.check_fault(call.name)
                if mod is not None:
                    _forced_failure(mod, call.name, count, cfg)
                result = await self._attempt(call, values, ctx, cfg)
                text = _serialise(call.name, count, result)  # too large: the attempt failed
            except NonRetryableError as exc:
                history.end(exc)
                raise
            except InstanceFatal as fatal:
                history.end(fatal)
                live.fatal = fatal  # ends the instance even if run() catches BaseException
                raise
            except Exception as exc:
                history.end(exc)
                if attempt > cfg.limit:
                    raise
                if mod is None or not mod.retry_delay_disabled(call.name, count):
                    await live.retry_delay(cfg.delay_before_retry(attempt) / 1000)
                attempt += 1
                continue
            live.record(key, text)
            history.end(None)
            return to_js_dict(json.loads(text))

    async def _attempt(
        self, call: StepCallable, values: list[Any], ctx: dict[str, Any], cfg: StepConfig
    ) -> Any:
        _, wants_ctx = _params(call.func)
        kwargs: dict[str, Any] = {"ctx": ctx} if wants_ctx else {}
        if call.positional:
            names = _params(call.func)[0]
            kwargs |= dict(zip(names, values, strict=False))
        else:
            kwargs |= {param: value for (param, _), value in zip(call.deps, values, strict=True)}

        async def invoke() -> Any:
            result = call.func(**kwargs)
            return await result if inspect.isawaitable(result) else result

        return await self.live.with_timeout(invoke(), cfg.timeout_ms)

    # --- sleeps and events -----------------------------------------------------------------
    async def sleep(self, name: str, duration: object) -> None:
        """Sleep ``duration`` (ms, or ``"10 seconds"``) on the emulator's clock; replayed
        sleeps end at the time first recorded."""
        _check_name(name)
        ms = parse_duration(duration)
        if ms > WORKFLOW_MAX_SLEEP_MS:
            raise ValueError(f"step.sleep duration {duration!r} is over the maximum of 365 days")
        key, count = self._key("sleep", name)
        await self._sleep_to(key, name, count, lambda: self.live.clock.now_ms() + ms)

    async def sleep_until(self, name: str, timestamp: object) -> None:
        """Sleep until ``timestamp`` (a ``datetime``, or epoch milliseconds)."""
        _check_name(name)
        if isinstance(timestamp, datetime):
            when = timestamp.timestamp() * 1000
        elif isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
            when = float(timestamp)
        else:
            raise TypeError(
                f"step.sleep_until timestamp must be a datetime or ms, not {timestamp!r}"
            )
        key, count = self._key("sleep", name)
        if not self.live.recorded(key)[0] and when < self.live.clock.now_ms():
            raise ValueError("You can't sleep until a time in the past, time-traveler")
        await self._sleep_to(key, name, count, lambda: when)

    async def _sleep_to(self, key: str, name: str, count: int, until: Callable[[], float]) -> None:
        live = self.live
        await live.checkpoint()
        found, wake_ms = live.recorded(key)
        if not found:
            mod = live.modifier
            disabled = mod is not None and mod.sleep_disabled(name, count)
            wake_ms = live.clock.now_ms() if disabled else until()
            history = _History(live, key)
            live.record(key, json.dumps(wake_ms))
            history.end(None, end_ms=int(wake_ms))
        await live.wait_until(float(wake_ms))

    async def wait_for_event(
        self,
        name: str,
        event_type: str,
        /,
        timeout: object = WORKFLOW_DEFAULT_EVENT_TIMEOUT_MS,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Wait for ``sendEvent(type=event_type)``: ``{payload, timestamp, type}``; events
        sent earlier wait in order. ``WorkflowTimeoutError`` after ``timeout``."""
        _check_name(name)
        ms = parse_duration(timeout)
        key, count = self._key("event", name)
        live = self.live
        await live.checkpoint()
        found, event = live.recorded(key)
        mod = live.modifier
        if not found and mod is not None and mod.event_times_out(name, count):
            raise WorkflowTimeoutError(f"Execution timed out after {int(ms)}ms")
        if not found:
            deadline_key = f"deadline:{name}-{key.rsplit('-', 1)[1]}"
            has_deadline, deadline = live.recorded(deadline_key)
            if not has_deadline:
                deadline = live.clock.now_ms() + ms
                history = _History(live, deadline_key)  # the wait's start, and its deadline
                live.record(deadline_key, json.dumps(deadline))
                history.end(None, end_ms=int(deadline))
            event = await live.next_event(event_type, key, float(deadline))
            if event is None:
                raise WorkflowTimeoutError(f"Execution timed out after {int(ms)}ms")
        # A Date as python_from_rpc gives it: naive, in the Worker's zone (UTC on Cloudflare).
        when = datetime.fromtimestamp(event["timestamp"] / 1000, UTC).replace(tzinfo=None)
        received: dict[str, Any] = to_js_dict({**event, "timestamp": when})
        return received


class _History:
    """One attempt in the store's history (what ``cfemu workflows instances describe``
    shows): started when made, ended with :meth:`end`."""

    def __init__(self, live: LiveInstance, key: str) -> None:
        self.live = live
        store = live.runtime.store
        self.id = store.begin_attempt(live.runtime.name, live.id, key, live.clock.now_ms())

    def end(self, exc: BaseException | None, *, end_ms: int | None = None) -> None:
        error = None if exc is None else {"name": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, InstanceFatal):
            error = exc.error
        when = self.live.clock.now_ms() if end_ms is None else end_ms
        self.live.runtime.store.end_attempt(self.id, when, error)


def _forced_failure(mod: Modifier, name: str, count: int, cfg: StepConfig) -> None:
    """Fail this attempt as a test asked (a mocked error, a forced timeout)."""
    error = mod.attempt_error(name, count)
    if error is not None:
        raise error
    if mod.attempt_times_out(name, count):
        raise WorkflowTimeoutError(f"Execution timed out after {int(cfg.timeout_ms)}ms")


def _serialise(name: str, count: int, value: Any) -> str:
    """The step result's JSON text. Not JSON data: the instance ends ``errored`` at once
    (Cloudflare aborts it); over 1 MiB: ``ValueError`` (the attempt failed)."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise InstanceFatal(
            f'The execution of the Workflow instance was terminated, as the step "{name}" '
            "returned a value which is not serialisable"
        ) from None
    if len(text.encode()) > WORKFLOW_MAX_STEP_RESULT_BYTES:
        raise ValueError(f"Step {name}-{count} output is too large. Maximum allowed size is 1MiB.")
    return text
