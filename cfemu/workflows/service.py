"""Workflows as a binding kind: every ``[[workflows]]`` entry of every Worker.

One store for all Workflows (in memory, or ``<persist_to>/workflows.sqlite``); one
:class:`~cfemu.workflows.engine.WorkflowRuntime` per Workflow name, shared by every Worker
binding it. ``attach()`` checks each class; ``begin()`` resumes the instances a previous
run left unfinished. Fault point ``workflows.step`` (target ``<workflow>:<step name>``)
fails a step attempt before its function runs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, ClassVar

from cfemu.bindings import NOT_MINE, BindingService, DescribeRow, NotMine, ServiceContext
from cfemu.errors import ConfigError, WorkerError
from cfemu.state import opening_state
from cfemu.workflows.binding import Workflow
from cfemu.workflows.engine import WorkflowRuntime
from cfemu.workflows.store import WorkflowStore, store_file

if TYPE_CHECKING:
    from cfemu.config import WorkerConfig, WorkflowConfig
    from cfemu.runtime.worker import Worker

__all__ = ["WorkflowsService"]


class WorkflowsService(BindingService):
    """Every Workflow of the emulator."""

    kind: ClassVar[str] = "workflows"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        self._store: WorkflowStore | None = None
        #: Every Workflow by name.
        self.runtimes: dict[str, WorkflowRuntime] = {}

    @property
    def store(self) -> WorkflowStore:
        """The store of every instance (opened by :meth:`start`)."""
        if self._store is None:
            path = None if self.ctx.persist_to is None else store_file(self.ctx.persist_to)
            with opening_state(path or "workflows", "Workflow instances"):
                self._store = WorkflowStore(path)
        return self._store

    async def start(self) -> None:
        """Open the store (a damaged file fails before the Workers load)."""
        _ = self.store

    def _runtime(self, config: WorkerConfig, entry: WorkflowConfig) -> WorkflowRuntime:
        found = self.runtimes.get(entry.name)
        if found is not None:
            return found
        script = entry.script_name or config.name
        if script not in {c.name for c in self.ctx.configs}:
            raise ConfigError(
                f"Workflow binding {entry.binding!r} names script_name {script!r}, but no "
                "Worker of this emulator is called so",
                file=config.path,
            )

        def find_worker() -> Worker:
            worker = self.ctx.workers.get(script)
            if worker is None:
                raise WorkerError(f"Worker {script!r} is not loaded (is the emulator started?)")
            return worker

        found = self.runtimes[entry.name] = WorkflowRuntime(
            name=entry.name,
            script=script,
            class_name=entry.class_name,
            find_worker=find_worker,
            store=self.store,
            clock=self.ctx.clock,
            tracker=self.ctx.tracker,
            faults=self.ctx.faults,
            step_limit=entry.limits.steps,
        )
        return found

    def bindings_for(self, config: WorkerConfig) -> Mapping[str, object]:
        """One :class:`Workflow` per ``[[workflows]]`` entry."""
        return {entry.binding: Workflow(self._runtime(config, entry)) for entry in config.workflows}

    def attach(self) -> None:
        """Check every bound class is exported and derives from ``WorkflowEntrypoint``."""
        for runtime in self.runtimes.values():
            runtime.workflow_class()

    def begin(self) -> None:
        """Resume the instances a previous run left unfinished."""
        for runtime in self.runtimes.values():
            runtime.restore()

    async def stop(self) -> None:
        """Stop every running instance where it is (its recorded steps stay)."""
        for runtime in self.runtimes.values():
            for live in list(runtime.live.values()):
                if live.task is not None:
                    live.task.cancel()
            runtime.live.clear()

    async def aclose(self) -> None:
        """Close the store."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def fault_targets(self, point: str) -> Collection[str] | NotMine | None:
        """``workflows.step`` targets ``<workflow>:<step name>`` (any step name)."""
        if point != "workflows.step":
            return NOT_MINE
        return None

    def workflow(self, name: str) -> Workflow:
        """The binding object of the Workflow called ``name`` (for tests and tools)."""
        runtime = self.runtimes.get(name)
        if runtime is None:
            raise KeyError(f"no Workflow {name!r}; Workflows: {sorted(self.runtimes)}")
        return Workflow(runtime)

    def runtime_for(self, workflow: Workflow | str) -> WorkflowRuntime:
        """The runtime behind a binding (``env.ORDERS``) or a Workflow name."""
        if isinstance(workflow, Workflow):
            return workflow._runtime
        runtime = self.runtimes.get(workflow)
        if runtime is None:
            raise KeyError(f"no Workflow {workflow!r}; Workflows: {sorted(self.runtimes)}")
        return runtime

    def describe(self, config: WorkerConfig) -> list[DescribeRow]:
        """A row per Workflow binding."""
        mode = "local" if self.ctx.persist_to is None else "local, persisted"
        return [
            (f"env.{entry.binding} ({entry.class_name})", "Workflow", mode)
            for entry in config.workflows
        ]
