"""Every Durable Object namespace of an emulator: built from the configs, one per class.

A binding names a class (``class_name``) exported by a Worker (``script_name``, or the
binding's own Worker). Two bindings naming the same class of the same Worker share one
namespace, so every Worker reaches the same objects. With a state folder, each object's
SQLite file is ``<persist_to>/durable_objects/<worker>-<Class>/<id>.sqlite``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cfemu._faults import Faults
from cfemu._tasks import TaskTracker
from cfemu.clock import Clock
from cfemu.durable_objects.namespace import DurableObjectNamespace, NamespaceRuntime
from cfemu.errors import ConfigError, WorkerError
from cfemu.limits import DO_DELETE_ALL_DELETES_ALARM_DATE
from cfemu.runtime.entrypoints import DurableObject

if TYPE_CHECKING:
    from cfemu.config import DurableObjectBindingConfig, WorkerConfig
    from cfemu.runtime.worker import Worker

__all__ = ["DurableObjectsHub", "deletes_alarm", "namespace_folder"]

#: Subfolder of the state folder holding every namespace's objects.
STATE_FOLDER = "durable_objects"


def namespace_folder(persist_to: Path, label: str) -> Path:
    """Where the objects of the namespace ``<worker>-<Class>`` live."""
    return persist_to / STATE_FOLDER / label


def deletes_alarm(config: WorkerConfig) -> bool:
    """Whether ``deleteAll()`` deletes the alarm for this Worker (spec §6)."""
    flags = set(config.compatibility_flags)
    if "delete_all_preserves_alarm" in flags:
        return False
    if "delete_all_deletes_alarm" in flags:
        return True
    date = config.compatibility_date or ""
    return date >= DO_DELETE_ALL_DELETES_ALARM_DATE


class DurableObjectsHub:
    """The namespaces of every Durable Object class the configs bind."""

    def __init__(
        self,
        *,
        configs: tuple[WorkerConfig, ...],
        workers: Mapping[str, Worker],
        clock: Clock,
        tracker: TaskTracker,
        faults: Faults | None = None,
        persist_to: Path | None = None,
        seed: int = 0,
    ) -> None:
        self.configs = {c.name: c for c in configs}
        self.workers = workers
        self.clock = clock
        self.tracker = tracker
        self.faults = faults
        self.persist_to = persist_to
        self.seed = seed
        #: Every namespace by its label ``<worker>-<Class>``.
        self.runtimes: dict[str, NamespaceRuntime] = {}

    def _script_config(
        self, config: WorkerConfig, binding: DurableObjectBindingConfig
    ) -> WorkerConfig:
        script = binding.script_name or config.name
        found = self.configs.get(script)
        if found is None:
            raise ConfigError(
                f"Durable Object binding {binding.name!r} names script_name {script!r}, but "
                f"no Worker of this emulator is called so; Workers: {sorted(self.configs)}",
                file=config.path,
            )
        return found

    def runtime(self, script: str, class_name: str) -> NamespaceRuntime:
        """The namespace of ``class_name`` exported by the Worker ``script``."""
        label = f"{script}-{class_name}"
        found = self.runtimes.get(label)
        if found is not None:
            return found
        config = self.configs[script]
        classes = config.durable_object_classes()

        def find_worker() -> Worker:
            worker = self.workers.get(script)
            if worker is None:
                raise WorkerError(f"Worker {script!r} is not loaded (is the emulator started?)")
            return worker

        found = self.runtimes[label] = NamespaceRuntime(
            script=script,
            class_name=class_name,
            find_worker=find_worker,
            clock=self.clock,
            tracker=self.tracker,
            faults=self.faults,
            folder=None if self.persist_to is None else namespace_folder(self.persist_to, label),
            delete_all_deletes_alarm=deletes_alarm(config),
            sql_enabled=classes.get(class_name, True),
            seed=self.seed + len(self.runtimes),
        )
        return found

    def bindings_for(self, config: WorkerConfig) -> dict[str, DurableObjectNamespace]:
        """``env`` entries of the Worker configured by ``config``: one namespace per binding."""
        found: dict[str, DurableObjectNamespace] = {}
        for binding in config.durable_object_bindings:
            script = self._script_config(config, binding).name
            found[binding.name] = DurableObjectNamespace(self.runtime(script, binding.class_name))
        return found

    def attach(self) -> None:
        """Check every bound class exists and derives from ``DurableObject``."""
        for runtime in self.runtimes.values():
            cls = runtime.object_class()
            if not issubclass(cls, DurableObject):
                raise WorkerError(
                    f"Worker {runtime.script!r}: {runtime.class_name} must be a class deriving "
                    f"from workers.DurableObject, found {cls!r}"
                )

    def restore(self) -> None:
        """Re-arm the alarms of persisted objects."""
        for runtime in self.runtimes.values():
            runtime.restore()

    def stop_alarms(self) -> None:
        """Cancel every alarm timer (the alarms stay stored)."""
        for runtime in self.runtimes.values():
            for actor in runtime.actors.values():
                actor.cancel_alarm_timer()

    def is_settled(self) -> bool:
        """Whether no event is running in any object."""
        return not self.busy()

    def busy(self) -> list[str]:
        """Objects with events in flight."""
        return [
            f"{runtime.label}/{key[:12]}... ({actor.in_flight} event(s))"
            for runtime in self.runtimes.values()
            for key, actor in runtime.actors.items()
            if actor.in_flight
        ]

    def close(self) -> None:
        """Close every object's database."""
        for runtime in self.runtimes.values():
            runtime.close()
