"""One Durable Object: its single live instance, events, gates, alarms and eviction.

spec: durable-objects.md §5-7. An :class:`Actor` exists for every id used; it creates the
instance (running the constructor) on the first event after creation, eviction or reset.
Each event runs as its own task in the Worker's scope (``import workers``, its env), one
step at a time through the input gate (:mod:`cfemu.durable_objects.gate`). Before a
result leaves the object, the writes made so far are committed (the output gate); if that
fails the object is reset and the caller gets the error instead.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from cfemu._contain import contained
from cfemu._js import JsDict
from cfemu._log import ALARMS, invocation
from cfemu.clock import TimerHandle
from cfemu.durable_objects.database import ObjectDatabase
from cfemu.durable_objects.errors import DurableObjectAbort, DurableObjectError
from cfemu.durable_objects.gate import InputGate, current_token, gated
from cfemu.durable_objects.ids import DurableObjectId
from cfemu.durable_objects.state import DurableObjectState
from cfemu.durable_objects.storage import DurableObjectStorage
from cfemu.limits import (
    DO_ALARM_FIRST_RETRY_SECONDS,
    DO_ALARM_MAX_JITTER,
    DO_ALARM_MAX_RETRIES,
    DO_BLOCK_CONCURRENCY_TIMEOUT_SECONDS,
    DO_IDLE_EVICTION_SECONDS,
)
from cfemu.runtime._modules import run_in
from cfemu.runtime._scope import current, import_scope
from cfemu.state import opening_state

if TYPE_CHECKING:
    from cfemu.durable_objects.namespace import NamespaceRuntime

__all__ = ["Actor", "alarm_retry_delay"]

log = logging.getLogger("cfemu.durable_objects")

NO_ALARM_HANDLER = (
    "Attempted to run a scheduled alarm without a handler, did you remember to export an "
    "alarm() function?"
)
BLOCK_TIMEOUT = (
    "A call to blockConcurrencyWhile() in a Durable Object waited for too long. The call was "
    "canceled and the Durable Object was reset."
)


def alarm_retry_delay(retry: int, rng: random.Random) -> float:
    """Seconds before alarm retry number ``retry`` (0-based): 2 s << retry, + 0-25 % jitter."""
    delay = DO_ALARM_FIRST_RETRY_SECONDS * (1 << retry)
    return delay + delay * DO_ALARM_MAX_JITTER * rng.random()


def _accepted(fn: Any) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 1
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


class Actor:
    """The host of one Durable Object id within a namespace."""

    def __init__(self, runtime: NamespaceRuntime, object_id: DurableObjectId) -> None:
        self.runtime = runtime
        self.id = object_id
        self.instance: Any = None
        self.gate = InputGate()
        self.generation = 0
        self.in_flight = 0
        self.last_active = runtime.clock.now()
        #: The alarm time (ms) whose handler is running; ``getAlarm()`` hides it.
        self.firing_alarm: int | None = None
        self.in_constructor = False
        self._alarm_dirty = False
        self._alarm_timer: TimerHandle | None = None
        self._reset_error: DurableObjectError | None = None
        self._db: ObjectDatabase | None = None
        self._storage: DurableObjectStorage | None = None
        #: Constructor runs (for tests of eviction).
        self.constructions = 0

    # --- storage ---------------------------------------------------------------------
    @property
    def db(self) -> ObjectDatabase:
        """The object's database, opened on first use."""
        if self._db is None or self._db.closed:
            path = self.runtime.object_path(self.id)
            with opening_state(path or "memory", "Durable Object storage"):
                self._db = ObjectDatabase(path, on_commit=self._committed)
            self._db.before_commit = self._check_commit_fault
            self._storage = None
            if self.id.name is not None:  # it has storage now: list it by name
                self.runtime.names.remember(self.id.toString(), self.id.name)
        return self._db

    @property
    def storage(self) -> DurableObjectStorage:
        """``ctx.storage``."""
        db = self.db
        if self._storage is None:
            self._storage = DurableObjectStorage(db, self)
        return self._storage

    def check_storage_fault(self) -> None:
        """Raise an injected ``durable_objects.storage`` fault for this namespace."""
        self.runtime.check_fault("durable_objects.storage")

    def _check_commit_fault(self) -> None:
        self.runtime.check_fault("durable_objects.commit")

    @property
    def delete_all_deletes_alarm(self) -> bool:
        """Whether ``deleteAll()`` deletes the alarm too (compatibility date >= 2026-02-24)."""
        return self.runtime.delete_all_deletes_alarm

    @property
    def sql_enabled(self) -> bool:
        """Whether the class is SQLite-backed (SQL and synchronous KV allowed)."""
        return self.runtime.sql_enabled

    def alarm_set_allowed(self) -> bool:
        """``setAlarm`` needs an ``alarm`` handler, except in the constructor."""
        return self.in_constructor or self.runtime.alarm_handler() is not None

    def alarm_touched(self) -> None:
        """Reschedule the alarm once the current write commits."""
        self._alarm_dirty = True

    def _committed(self) -> None:
        if self._alarm_dirty:
            self._alarm_dirty = False
            self.schedule_alarm()

    # --- instance lifecycle ------------------------------------------------------------
    def _construct(self) -> None:
        if self.instance is not None:
            idle = self.runtime.clock.now() - self.last_active
            if self.in_flight <= 1 and not self.gate.held and idle >= DO_IDLE_EVICTION_SECONDS:
                self._drop_instance()  # local workerd frees an object after 10 s idle
        if self.instance is not None:
            return
        cls = self.runtime.object_class()
        ctx = DurableObjectState(self)
        instance: Any = object.__new__(cls)
        instance.ctx = ctx
        instance.env = self.runtime.env
        self.in_constructor = True
        try:
            with self.runtime.installed():
                instance.__init__(ctx, self.runtime.env)
        finally:
            self.in_constructor = False
        self.instance = instance
        self.constructions += 1

    def evict(self) -> bool:
        """Drop the instance (storage stays); the next event runs the constructor again.

        Returns ``False`` (and does nothing) while an event is running in the object.
        """
        if self.in_flight or self.gate.held:
            return False
        self._drop_instance()
        return True

    def _drop_instance(self) -> None:
        self.instance = None
        self.generation += 1
        if self._db is not None and self._db.path is not None:
            self._db.close()  # reopened on the next use
            self._db = None
            self._storage = None

    def reset(self, error: DurableObjectError) -> None:
        """Reset the object: drop uncommitted writes and the instance; in-flight calls fail."""
        self._reset_error = error
        self.generation += 1
        self.instance = None
        if self._db is not None:
            self._db.rollback()
        self._alarm_dirty = False
        self.gate.clear()
        self.schedule_alarm()

    def abort(self, reason: str) -> None:
        """``ctx.abort(reason)``."""
        self.reset(DurableObjectError(reason, reset=True, object_id=self.id.toString()))

    def _checker(self, generation: int) -> Callable[[], None]:
        def check() -> None:
            if self.generation != generation:
                raise self._reset_error or DurableObjectError(
                    "Durable Object was reset.", reset=True, object_id=self.id.toString()
                )

        return check

    # --- events ----------------------------------------------------------------------------
    async def invoke(self, call: Callable[[Any], Any], *, what: str) -> Any:
        """Deliver one event: ``call(instance)`` (result awaited), through both gates.

        Errors reach the caller as :class:`DurableObjectError` (``remote`` for the object's
        own exceptions, ``durableObjectReset`` after a reset).
        """
        task = self.runtime.tracker.spawn(self._event(call), name=f"{self.runtime.label}:{what}")
        return await asyncio.shield(task)

    async def _event(self, call: Callable[[Any], Any]) -> Any:
        runtime = self.runtime
        current.set(runtime.dispatch_state())
        token = object()
        self.in_flight += 1
        try:
            with import_scope.active(runtime.import_paths):
                await self.gate.wait(token)
                try:
                    self._construct()
                except Exception as exc:
                    raise self._remote(exc) from exc
                await self.gate.wait(token)
                generation = self.generation
                check = self._checker(generation)
                check()
                result = await self._run(call, token, check)
                self._output_gate(generation)
                return result
        finally:
            self.in_flight -= 1
            self.last_active = runtime.clock.now()

    async def _run(
        self, call: Callable[[Any], Any], token: object, check: Callable[[], None]
    ) -> Any:
        reset = current_token.set(token)
        try:
            try:
                with self.runtime.installed():
                    result = call(self.instance)
            finally:
                current_token.reset(reset)
            if inspect.isawaitable(result):
                coro = result if inspect.iscoroutine(result) else _await(result)
                result = await run_in(self.runtime.modules, gated(self.gate, token, coro, check))
            return result
        except DurableObjectAbort as abort:
            raise DurableObjectError(
                abort.reason, remote=True, reset=True, object_id=self.id.toString()
            ) from None
        except DurableObjectError as exc:
            if exc.durableObjectReset:
                raise
            raise self._remote(exc) from exc
        except BaseException as exc:
            error = contained(exc, self.runtime.script, f"Durable Object {self.runtime.label}")
            if error is exc and not isinstance(exc, Exception):
                raise
            raise self._remote(error) from exc

    def _remote(self, exc: BaseException) -> DurableObjectError:
        if isinstance(exc, DurableObjectError) and exc.remote:
            return exc
        return DurableObjectError(
            f"{type(exc).__name__}: {exc}", remote=True, object_id=self.id.toString()
        )

    def _output_gate(self, generation: int) -> None:
        self._checker(generation)()
        if self._db is None:
            return
        try:
            self._db.flush()
        except Exception as exc:
            error = DurableObjectError(
                f"broken.outputGateBroken: writes could not be committed ({exc})",
                reset=True,
                object_id=self.id.toString(),
            )
            self.reset(error)
            raise error from exc

    def flush_before_send(self) -> None:
        """The output gate for outgoing calls: commit before a message leaves the object."""
        if self._db is not None:
            self._db.flush()

    # --- blockConcurrencyWhile, waitUntil -------------------------------------------------
    def block(self, callback: Any, *, reset_on_error: bool = True) -> Awaitable[Any]:
        """``ctx.blockConcurrencyWhile(callback)``: hold the gate while the callback runs.

        A callback that raises resets the object, unless ``reset_on_error`` is false (a
        ``transaction()`` closure: rolled back, not reset)."""
        token = object()
        self.gate.hold(token)
        check = self._checker(self.generation)
        timed_out = False

        async def run() -> Any:
            try:
                result = callback() if callable(callback) else callback
                if inspect.isawaitable(result):
                    coro = result if inspect.iscoroutine(result) else _await(result)
                    result = await run_in(
                        self.runtime.modules,
                        gated(self.gate, token, coro, check),
                    )
                return result
            except asyncio.CancelledError:
                if not timed_out:
                    raise
                error = DurableObjectError(
                    BLOCK_TIMEOUT, overloaded=True, reset=True, object_id=self.id.toString()
                )
                self.reset(error)
                raise error from None
            except DurableObjectAbort:
                raise
            except BaseException as exc:
                if not reset_on_error or (
                    isinstance(exc, DurableObjectError) and exc.durableObjectReset
                ):
                    raise
                # spec §5.3: a failing callback breaks the input gate and resets the object.
                self.reset(
                    DurableObjectError(
                        f"broken.inputGateBroken: {type(exc).__name__}: {exc}",
                        reset=True,
                        object_id=self.id.toString(),
                    )
                )
                raise
            finally:
                timer.cancel()
                self.gate.release(token)

        def run_with_token() -> Coroutine[Any, Any, Any]:
            current_token.set(token)
            return run()

        task = self.runtime.tracker.spawn(run_with_token(), name=f"{self.runtime.label}:block")

        def expire() -> None:
            nonlocal timed_out
            if not task.done():
                timed_out = True
                task.cancel()

        timer = self.runtime.clock.call_later(DO_BLOCK_CONCURRENCY_TIMEOUT_SECONDS, expire)
        return task

    def wait_until(self, awaitable: Awaitable[Any]) -> None:
        """``ctx.waitUntil``: background work, held by the input gate like the event."""
        token = current_token.get() or object()
        coro = awaitable if inspect.iscoroutine(awaitable) else _await(awaitable)
        check = self._checker(self.generation)

        async def run() -> None:
            try:
                await run_in(self.runtime.modules, gated(self.gate, token, coro, check))
            except BaseException as exc:
                error = contained(exc, self.runtime.script, "a waitUntil() task")
                log.error("%s: waitUntil work failed", self.runtime.label, exc_info=error)

        self.runtime.tracker.spawn(run(), name=f"{self.runtime.label}:waitUntil")

    # --- alarms -----------------------------------------------------------------------------
    def stored_alarm(self) -> int | None:
        """The committed alarm time (ms), or ``None``."""
        value = self.db.get_meta("alarm")
        return None if value is None else int(value)

    def schedule_alarm(self) -> None:
        """Arm a clock timer for the stored alarm (replacing any timer)."""
        if self._alarm_timer is not None:
            self._alarm_timer.cancel()
            self._alarm_timer = None
        if self.firing_alarm is not None:
            return  # the running handler's outcome decides what comes next
        when = self.stored_alarm()
        if when is None:
            return
        self._arm(when, when / 1000, 0)

    def _arm(self, alarm_ms: int, at: float, retry: int) -> None:
        clock = self.runtime.clock

        def fire() -> None:
            self._alarm_timer = None
            self.runtime.tracker.spawn(
                self.run_alarm(alarm_ms, retry), name=f"{self.runtime.label}:alarm"
            )

        if at <= clock.now():  # a time in the past fires at once
            fire()
        else:
            self._alarm_timer = clock.call_at(at, fire)

    async def run_alarm(self, alarm_ms: int, retry: int = 0) -> bool:
        """Run the ``alarm`` handler for the alarm at ``alarm_ms``; True if it succeeded.

        On failure the alarm is retried after 2, 4, 8, 16, 32, 64 s (+ up to 25 % jitter),
        then abandoned; an alarm replaced meanwhile is not retried (spec §6).
        """
        if self.firing_alarm is not None or self.stored_alarm() != alarm_ms:
            return False  # already running, or replaced since
        handler = self.runtime.alarm_handler()
        if handler is None:
            log.warning("%s: %s", self.runtime.label, NO_ALARM_HANDLER)
            self.db.set_meta("alarm", None)
            self.db.flush()
            return False
        info = JsDict(retryCount=retry, isRetry=retry > 0, scheduledTime=alarm_ms)
        self.firing_alarm = alarm_ms
        ok = False
        started = self.runtime.clock.now()
        try:
            self.runtime.check_fault("durable_objects.alarm")

            def call(instance: Any) -> Any:
                method = getattr(instance, handler)
                return method(info) if _accepted(method) >= 1 else method()

            await self.invoke(call, what="alarm")
            ok = True
        except Exception as exc:
            log.warning("%s: alarm() failed (retry %d): %s", self.runtime.label, retry, exc)
        finally:
            self.firing_alarm = None
            outcome = "ok" if ok else "failed" + (f" (retry {retry})" if retry else "")
            invocation(
                ALARMS, "ALARM", self.runtime.label, outcome, self.runtime.clock.now() - started
            )
        stored = self.stored_alarm()
        if stored != alarm_ms:
            self.schedule_alarm()  # replaced (or deleted) while running: no retry
            return ok
        if ok or retry >= DO_ALARM_MAX_RETRIES:
            if not ok:
                log.error("%s: alarm abandoned after %d retries", self.runtime.label, retry)
            self.db.set_meta("alarm", None)
            self.db.flush()
            self._alarm_dirty = False
            return ok
        delay = alarm_retry_delay(retry, self.runtime.rng)
        self._arm(alarm_ms, self.runtime.clock.now() + delay, retry + 1)
        return ok

    def cancel_alarm_timer(self) -> None:
        """Stop the alarm's timer (the alarm stays stored)."""
        if self._alarm_timer is not None:
            self._alarm_timer.cancel()
            self._alarm_timer = None

    def close(self) -> None:
        """Stop the alarm timer and close the database (emulator shutdown)."""
        self.cancel_alarm_timer()
        if self._db is not None:
            self._db.close()
            self._db = None
            self._storage = None


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
