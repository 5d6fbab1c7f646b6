"""Running Workflow instances: one asyncio task per live instance, replaying ``run()``.

A :class:`WorkflowRuntime` is one configured Workflow (``[[workflows]] name``). Each instance
runs its class's ``run(event, step)`` as a task on the emulator's tracker; every completed
step is in the :class:`~cfemu.workflows.store.WorkflowStore` first, so starting the task
again (after ``begin()`` on a persisted store, i.e. after a restart) replays ``run()`` from
the top and skips every recorded step. Sleeps, retry delays and event timeouts go through
the emulator's clock.

Statuses (Cloudflare's): ``queued`` → ``running`` ⇄ ``waiting`` (sleeping, waiting for an
event) → ``complete`` | ``errored`` | ``terminated``; ``pause()`` gives ``waitingForPause``
while a step runs, then ``paused`` at the next step boundary.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from cfemu._faults import Faults
from cfemu._js import JsDict, to_js_dict
from cfemu._tasks import TaskTracker
from cfemu.clock import Clock
from cfemu.errors import WorkerError
from cfemu.limits import (
    WORKFLOW_MAX_EVENT_PAYLOAD_BYTES,
    WORKFLOW_MAX_INSTANCE_ID_LENGTH,
    WORKFLOW_MAX_INSTANCE_STATE_BYTES,
)
from cfemu.runtime._modules import run_in
from cfemu.runtime._scope import DispatchState, current, import_scope
from cfemu.runtime.context import ExecutionContext
from cfemu.runtime.entrypoints import WorkflowEntrypoint
from cfemu.workflows.errors import InstanceFatal, WorkflowError
from cfemu.workflows.live import LiveInstance, Paused
from cfemu.workflows.step import WorkflowStep
from cfemu.workflows.store import WorkflowStore

if TYPE_CHECKING:
    from cfemu.runtime.worker import Worker
    from cfemu.workflows.modifier import Modifier

__all__ = ["FINITE", "LiveInstance", "WorkflowRuntime"]  # LiveInstance: from .live

#: Statuses an instance never leaves by itself.
FINITE: Final = frozenset({"complete", "errored", "terminated"})
_INSTANCE_ID: Final = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9-_]*$")


def _json_size(value: Any) -> int:
    import json

    return len(json.dumps(value).encode())


class WorkflowRuntime:
    """One ``[[workflows]]`` Workflow: its instances, live and stored."""

    def __init__(
        self,
        *,
        name: str,
        script: str,
        class_name: str,
        find_worker: Callable[[], Worker],
        store: WorkflowStore,
        clock: Clock,
        tracker: TaskTracker,
        faults: Faults | None = None,
        step_limit: int,
    ) -> None:
        self.name = name
        self.script = script
        self.class_name = class_name
        self._find_worker = find_worker
        self.store = store
        self.clock = clock
        self.tracker = tracker
        self.faults = faults
        self.step_limit = step_limit
        #: Bytes of recorded state an instance may hold (Cloudflare's 1 GiB; tests lower it).
        self.state_limit = WORKFLOW_MAX_INSTANCE_STATE_BYTES
        #: What tests changed about instances (cfemu.testing's introspection), by id.
        self.modifiers: dict[str, Modifier] = {}
        #: Called with each new instance's id before it starts (introspection sessions).
        self.on_create: list[Callable[[str], None]] = []
        #: Instances with a task (running, waiting or paused), by id.
        self.live: dict[str, LiveInstance] = {}

    def workflow_class(self) -> type[WorkflowEntrypoint]:
        """The exported ``WorkflowEntrypoint`` subclass; ``WorkerError`` when missing."""
        worker = self._find_worker()
        cls = getattr(worker.module, self.class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, WorkflowEntrypoint)):
            raise WorkerError(
                f"Worker {worker.name!r} does not export a Workflow class named "
                f"{self.class_name!r} deriving from workers.WorkflowEntrypoint (Workflow "
                f"{self.name!r})"
            )
        return cls

    # --- instances ---------------------------------------------------------------------------
    def create(self, instance_id: object = None, params: object = None) -> str:
        """Record a new instance and start it; its id."""
        if instance_id is None:
            instance_id = str(uuid.uuid4())
        if (
            not isinstance(instance_id, str)
            or len(instance_id) > WORKFLOW_MAX_INSTANCE_ID_LENGTH
            or not _INSTANCE_ID.match(instance_id)
        ):
            raise WorkflowError("Workflow instance has invalid id")
        if self.store.instance(self.name, instance_id) is not None:
            raise WorkflowError(f"(instance.already_exists) Instance {instance_id} already exists")
        try:
            size = _json_size(params)
        except (TypeError, ValueError):
            raise TypeError("Workflow instance params must be JSON-serialisable") from None
        if size > WORKFLOW_MAX_EVENT_PAYLOAD_BYTES:
            raise WorkflowError("Workflow instance params are over the 1 MiB limit")
        self.store.add_instance(self.name, instance_id, params, self.clock.now_ms())
        for hook in list(self.on_create):
            hook(instance_id)
        self.start(instance_id)
        return instance_id

    def require(self, instance_id: str) -> str:
        """The stored status of ``instance_id``; ``WorkflowError("instance.not_found")``."""
        row = self.store.instance(self.name, instance_id)
        if row is None:
            raise WorkflowError("instance.not_found")
        return row.status

    def start(self, instance_id: str) -> LiveInstance:
        """Start (or replay) the instance's ``run()`` as a task."""
        live = self.live[instance_id] = LiveInstance(self, instance_id)
        live.task = self.tracker.spawn(self._run(live), name=f"workflow:{self.name}:{instance_id}")
        return live

    async def _run(self, live: LiveInstance) -> None:
        row = self.store.instance(self.name, live.id)
        assert row is not None
        worker = self._find_worker()
        current.set(
            DispatchState(
                worker.name, worker.env, self.clock, outbound=worker.outbound, compat=worker.compat
            )
        )
        try:
            with import_scope.active(worker.import_paths):
                await live.checkpoint()
                cls = self.workflow_class()
                ctx = ExecutionContext(
                    self.tracker,
                    worker_name=worker.name,
                    import_paths=worker.import_paths,
                    modules=worker.modules,
                )
                entry: Any = cls(ctx, worker.env)
                event = to_js_dict(
                    {
                        "payload": row.params,
                        # A JavaScript Date as the SDK's python_from_rpc gives it: a
                        # naive datetime in the Worker's zone, UTC on Cloudflare.
                        "timestamp": datetime.fromtimestamp(row.created_ms / 1000, UTC).replace(
                            tzinfo=None
                        ),
                        "instanceId": live.id,
                        "workflowName": self.name,
                    }
                )
                step = WorkflowStep(live, implicit=worker.compat.enabled(IMPLICIT_FLAG))
                output = await run_in(worker.modules, entry.run(event, step))
            if live.fatal is not None:
                raise live.fatal
            try:
                _json_size(output)
            except (TypeError, ValueError):
                output = repr(output)
            self._finish(live, "complete", output=output)
        except (asyncio.CancelledError, Paused):
            pass
        except InstanceFatal as fatal:
            self._finish(live, "errored", error=fatal.error)
        except Exception as exc:
            self._finish(live, "errored", error={"name": type(exc).__name__, "message": str(exc)})
        finally:
            if self.live.get(live.id) is live:
                del self.live[live.id]

    def _finish(
        self,
        live: LiveInstance,
        status: str,
        *,
        output: object = None,
        error: dict[str, str] | None = None,
    ) -> None:
        """Record how ``run()`` ended, unless the runtime had stopped the task (terminated,
        restarted, deleted: what it did while unwinding does not count)."""
        if not live.stopped:
            self.store.set_status(self.name, live.id, status, output=output, error=error)
            self.store.set_end(self.name, live.id, self.clock.now_ms())

    def status(self, instance_id: str) -> JsDict:
        """Cloudflare's ``InstanceStatus`` as the Python SDK gives it: a ``JsDict`` (a dict
        with attribute access, nested) holding ``status``, ``error`` (``{name, message}``
        when errored, else ``None``) and ``output`` (``run()``'s result when complete, else
        ``None``). Every key is always there, as production's ``null``s arrive as ``None``
        (spec §3.6; **unconfirmed**, see docs/workflows.md)."""
        row = self.store.instance(self.name, instance_id)
        if row is None:
            raise WorkflowError("instance.not_found")
        found: JsDict = to_js_dict(
            {
                "status": row.status,
                "error": row.error if row.status == "errored" else None,
                "output": row.output if row.status == "complete" else None,
            }
        )
        return found

    def pause(self, instance_id: str) -> None:
        """Pause the instance (spec §3.6; the rules of Cloudflare's engine, docs/workflows.md).

        A running step (with its retries) finishes first: ``waitingForPause``, then
        ``paused`` at the next step boundary. A sleeping or event-waiting instance is
        ``paused`` at once and its task stops (``resume()`` replays it). A queued one is
        ``paused`` before it starts. Paused, waiting-for-pause and finished instances are
        left as they are, without an error.
        """
        status = self.require(instance_id)
        if status in FINITE or status in ("paused", "waitingForPause"):
            return
        live = self.live.get(instance_id)
        if live is None:
            self.store.set_status(self.name, instance_id, "paused")
            self.store.set_paused(self.name, instance_id, self.clock.now_ms())
            return
        live.pause_requested = True
        if live.in_step:
            live.set_status("waitingForPause")
        elif live.waiting:
            live.set_status("paused")
            self.store.set_paused(self.name, instance_id, self.clock.now_ms())
            self._cancel(instance_id)
        else:  # queued, or running between two steps: it stops at its next step boundary
            live.set_status("paused")

    def resume(self, instance_id: str) -> None:
        """Let a paused instance go on (replaying it when its task had ended), or cancel a
        pause still waiting for its step; any other status is left as it is."""
        status = self.require(instance_id)
        # its sleeps and event deadlines move by the time it spent paused (spec: the local
        # engine's resume offsets its timers; docs/workflows.md "A sleep across a pause")
        self.store.shift_for_resume(self.name, instance_id, self.clock.now_ms())
        live = self.live.get(instance_id)
        if live is not None:
            if live.pause_requested:
                live.pause_requested = False
                live.set_status("waiting" if live.waiting else "running")
        elif status == "paused":
            self.store.set_status(self.name, instance_id, "running")
            self.start(instance_id)

    def _cancel(self, instance_id: str) -> None:
        live = self.live.pop(instance_id, None)
        if live is not None:
            live.stopped = True
            if live.task is not None:
                live.task.cancel()

    def terminate(self, instance_id: str) -> None:
        """Stop the instance for good (``terminated``)."""
        if self.require(instance_id) in FINITE:
            raise WorkflowError(
                "(instance.cannot_terminate) Cannot terminate instance since its on a finite state"
            )
        self._cancel(instance_id)
        self.store.set_status(self.name, instance_id, "terminated")
        self.store.set_end(self.name, instance_id, self.clock.now_ms())

    def restart(self, instance_id: str, from_step: object = None) -> None:
        """Run the instance again: from the start (every recorded step forgotten), or from
        ``from_step`` (``{"name", "count"?, "type"?}``: that step and every step recorded
        after it are forgotten; the steps before it keep their results)."""
        self.require(instance_id)
        from_key = None if from_step is None else self._restart_key(instance_id, from_step)
        self._cancel(instance_id)
        self.store.forget_steps(self.name, instance_id, from_key)
        self.store.set_status(self.name, instance_id, "queued")
        self.store.set_end(self.name, instance_id, None)
        self.store.set_paused(self.name, instance_id, None)
        self.start(instance_id)

    def _restart_key(self, instance_id: str, from_step: object) -> str:
        """The recorded key ``restart({"from": ...})`` names; Cloudflare's error when the
        instance's history has no such step."""
        if not isinstance(from_step, Mapping) or not isinstance(from_step.get("name"), str):
            raise TypeError('restart: "from" must be a dict with a step "name"')
        name = from_step["name"]
        count = from_step.get("count", 1)
        kind = from_step.get("type", "do")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise TypeError(f'restart: "from.count" must be a positive integer, not {count!r}')
        prefixes = {"do": "do", "sleep": "sleep", "waitForEvent": "deadline"}
        if kind not in prefixes:
            raise TypeError(f'restart: "from.type" must be do, sleep or waitForEvent, not {kind!r}')
        key = f"{prefixes[kind]}:{name}-{count}"
        if not self.store.step(self.name, instance_id, key)[0]:
            raise WorkflowError(
                f'(instance.cannot_restart) Step "{name}" not found in execution history'
            )
        return key

    def delete(self, instance_id: str) -> None:
        """Stop the instance and forget it and everything recorded for it."""
        self._cancel(instance_id)
        if not self.store.delete_instance(self.name, instance_id):
            raise WorkflowError("(instance.not_found) Instance does not exist")

    def send_event(self, instance_id: str, event_type: object, payload: object) -> None:
        """Queue an event for the instance's ``wait_for_event(.., event_type)``."""
        status = self.require(instance_id)
        if not isinstance(event_type, str) or not event_type:
            raise TypeError("sendEvent: type must be a non-empty string")
        try:
            size = _json_size(payload)
        except (TypeError, ValueError):
            raise TypeError("sendEvent: payload must be JSON-serialisable") from None
        if size > WORKFLOW_MAX_EVENT_PAYLOAD_BYTES:
            raise WorkflowError("sendEvent: the event payload is over the 1 MiB limit")
        if status in FINITE:
            raise WorkflowError(
                "(instance.cannot_send_event) Cannot send event to instance since its on a "
                "finite state"
            )
        self.queue_event(instance_id, event_type, payload)

    def queue_event(self, instance_id: str, event_type: str, payload: object) -> None:
        """Queue an event for the instance (which may not exist yet), waking its waits."""
        event = {"payload": payload, "timestamp": self.clock.now_ms(), "type": event_type}
        self.store.add_event(self.name, instance_id, event_type, event)
        live = self.live.get(instance_id)
        if live is not None:
            live.wake()

    def restore(self) -> None:
        """Start every stored instance that had not finished (after a restart)."""
        for row in self.store.instances(self.name):
            if row.id in self.live or row.status in FINITE or row.status == "paused":
                continue
            if row.status == "waitingForPause":
                self.store.set_status(self.name, row.id, "paused")
                self.store.set_paused(self.name, row.id, self.clock.now_ms())
            else:
                self.start(row.id)

    def busy(self) -> list[str]:
        """Live instances not waiting on the clock or paused (for drain messages)."""
        return [f"workflow {self.name}/{i}" for i in self.live]


#: The flag under which ``step.do`` injects dependencies by parameter name.
IMPLICIT_FLAG: Final = "python_workflows_implicit_dependencies"
