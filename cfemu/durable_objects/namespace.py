"""``env.NS`` (a Durable Object namespace), its stubs, and the runtime behind them.

spec: durable-objects.md §2. ``idFromName``/``newUniqueId``/``idFromString`` make ids;
``get(id)``/``getByName(name)`` return a stub at once without waking the object. A stub's
``fetch()`` and RPC methods (``await stub.increment(5)``) deliver events to the object's
single live instance; arguments and results are copied as structured clone copies them
(:func:`cfemu.durable_objects.values.clone`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from cfemu._faults import Faults
from cfemu._js import JsDict
from cfemu._tasks import TaskTracker
from cfemu.clock import Clock
from cfemu.durable_objects.actor import Actor
from cfemu.durable_objects.errors import (
    DurableObjectError,
    DurableObjectRangeError,
    DurableObjectTypeError,
)
from cfemu.durable_objects.ids import DurableObjectId, IdFactory
from cfemu.durable_objects.names import ObjectNames
from cfemu.durable_objects.values import clone
from cfemu.errors import WorkerError
from cfemu.runtime._scope import DispatchState, before_send
from cfemu.runtime.http import FetchResponse, Request

if TYPE_CHECKING:
    from cfemu.runtime.worker import Worker

__all__ = [
    "RESERVED_METHODS",
    "DurableObjectNamespace",
    "DurableObjectStub",
    "NamespaceRuntime",
    "current_actor",
]

#: Names that cannot be called over RPC (spec §2.3).
RESERVED_METHODS: Final = frozenset(
    {
        "fetch",
        "connect",
        "alarm",
        "webSocketMessage",
        "webSocketClose",
        "webSocketError",
        "dup",
        "constructor",
    }
)
_LOCATION_HINTS: Final = frozenset(
    {"wnam", "enam", "sam", "weur", "eeur", "apac", "apac-ne", "apac-se", "oc", "afr", "me"}
)
NO_JURISDICTIONS: Final = "Jurisdiction restrictions are not implemented in workerd."

#: The object whose code runs in this context (its writes commit before a call leaves).
current_actor: ContextVar[Actor | None] = ContextVar("cfemu_do_actor", default=None)


class NamespaceRuntime:
    """One Durable Object class of one Worker: its ids, its objects, where they persist."""

    def __init__(
        self,
        *,
        script: str,
        class_name: str,
        find_worker: Callable[[], Worker],
        clock: Clock,
        tracker: TaskTracker,
        faults: Faults | None = None,
        folder: Path | None = None,
        delete_all_deletes_alarm: bool = True,
        sql_enabled: bool = True,
        seed: int = 0,
    ) -> None:
        self.script = script
        self.class_name = class_name
        #: Miniflare's ``uniqueKey``: ids (and file names) match ``wrangler dev``'s.
        self.label = f"{script}-{class_name}"
        self.ids = IdFactory(self.label)
        self._find_worker = find_worker
        self.clock = clock
        self.tracker = tracker
        self.faults = faults
        #: Where each object's SQLite file lives (``None``: in memory).
        self.folder = folder
        self.delete_all_deletes_alarm = delete_all_deletes_alarm
        #: SQLite-backed (``new_sqlite_classes``) or KV-backed (``new_classes``).
        self.sql_enabled = sql_enabled
        self.rng = random.Random(seed)
        self.actors: dict[str, Actor] = {}
        #: The names of objects that have storage and were addressed by name.
        self.names = ObjectNames(folder)

    # --- the Worker that exports the class ---------------------------------------------
    @property
    def worker(self) -> Worker:
        """The Worker whose module exports the class."""
        return self._find_worker()

    def object_class(self) -> type:
        """The exported class (looked up when an object is created)."""
        worker = self.worker
        cls = getattr(worker.module, self.class_name, None)
        if not isinstance(cls, type):
            raise WorkerError(
                f"Worker {worker.name!r} does not export a Durable Object class named "
                f"{self.class_name!r} (its main module must define it at top level)"
            )
        return cls

    def alarm_handler(self) -> str | None:
        """The name of the class's alarm handler (``alarm``, or legacy ``on_alarm``)."""
        cls = self.object_class()
        for name in ("alarm", "on_alarm"):
            if callable(getattr(cls, name, None)):
                return name
        return None

    @property
    def env(self) -> Any:
        """The exporting Worker's env."""
        return self.worker.env

    @property
    def modules(self) -> Any:
        """The exporting Worker's module space."""
        return self.worker.modules

    @property
    def import_paths(self) -> tuple[str, ...]:
        """The exporting Worker's import folders."""
        return self.worker.import_paths

    def dispatch_state(self) -> DispatchState:
        """What ``workers.env`` and friends see while the object's code runs."""
        worker = self.worker
        return DispatchState(worker.name, worker.env, self.clock, outbound=worker.outbound)

    @contextmanager
    def installed(self) -> Iterator[None]:
        """The Worker's own modules importable (for synchronous steps)."""
        with self.worker.modules.installed():
            yield

    def check_fault(self, point: str) -> None:
        """Raise a fault armed for ``point`` on this class, if one fires."""
        if self.faults:
            self.faults.check(point, self.class_name)

    # --- objects -------------------------------------------------------------------------
    def object_path(self, object_id: DurableObjectId) -> Path | None:
        """The object's SQLite file, or ``None`` in memory."""
        if self.folder is None:
            return None
        return self.folder / f"{object_id.toString()}.sqlite"

    def actor(self, object_id: DurableObjectId) -> Actor:
        """The host of ``object_id`` (created on first use; it does not wake the object)."""
        key = object_id.toString()
        found = self.actors.get(key)
        if found is None:
            found = self.actors[key] = Actor(self, object_id)
        elif object_id.name is not None and found.id.name is None:
            found.id = object_id
            if found._db is not None:
                self.names.remember(key, object_id.name)
        return found

    def name_of(self, hex_id: str) -> str | None:
        """The name object ``hex_id`` was addressed by, when cfemu knows it (from the object
        in memory, or the namespace's name index); never opens its storage."""
        actor = self.actors.get(hex_id)
        if actor is not None and actor.id.name is not None:
            return actor.id.name
        return self.names.get(hex_id)

    def stored_ids(self) -> list[str]:
        """Ids (hex) of the objects that have storage, sorted."""
        found = {k for k, a in self.actors.items() if a._db is not None}
        if self.folder is not None and self.folder.is_dir():
            found |= {p.stem for p in self.folder.glob("*.sqlite")}
        return sorted(found)

    def restore(self) -> None:
        """Re-arm the alarms of persisted objects (after a restart)."""
        for hex_id in self.stored_ids():
            actor = self.actor(self.ids.from_string(hex_id))
            name = actor.db.get_meta("name")  # kept with an alarm (as workerd does)
            if isinstance(name, str):
                actor.id = self.ids.from_string(hex_id, name)
                self.names.remember(hex_id, name)
            actor.schedule_alarm()

    def close(self) -> None:
        """Close every object's database and stop their alarms."""
        for actor in self.actors.values():
            actor.close()


def _options(options: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(options or {})
    merged.update(kwargs)
    return merged


class DurableObjectNamespace:
    """``env.<NAME>`` for a ``[[durable_objects.bindings]]`` entry."""

    __slots__ = ("_runtime",)

    def __init__(self, runtime: NamespaceRuntime) -> None:
        self._runtime = runtime

    def idFromName(self, name: str) -> DurableObjectId:
        """The id of the object called ``name`` (always the same for the same name)."""
        return self._runtime.ids.from_name(name)

    def newUniqueId(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """A new random id; jurisdictions are refused locally, as by workerd."""
        if _options(options, kwargs).get("jurisdiction") is not None:
            raise DurableObjectError(NO_JURISDICTIONS)
        return self._runtime.ids.unique()

    def idFromString(self, id: str) -> DurableObjectId:
        """The id written as 64 hex digits (``id.toString()``)."""
        return self._runtime.ids.from_string(id)

    def get(
        self, id: DurableObjectId, options: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> DurableObjectStub:
        """A stub for the object ``id``; the object wakes on the first call."""
        if not isinstance(id, DurableObjectId):
            raise DurableObjectTypeError(
                f"get() expects a DurableObjectId, got {type(id).__name__}"
            )
        if not self._runtime.ids.owns(id):
            raise DurableObjectTypeError("Durable Object ID is not valid for this namespace.")
        opts = _options(options, kwargs)
        mode = opts.get("routingMode")
        if mode is not None and mode != "primary-only":
            raise DurableObjectRangeError(f"unknown routingMode: {mode}")
        hint = opts.get("locationHint")
        if hint is not None and hint not in _LOCATION_HINTS:
            raise DurableObjectRangeError(f"unknown locationHint: {hint}")
        return DurableObjectStub(self._runtime, id)

    def getByName(
        self, name: str, options: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> DurableObjectStub:
        """``get(idFromName(name))``."""
        return self.get(self.idFromName(name), options, **kwargs)

    def jurisdiction(self, jurisdiction: str) -> DurableObjectNamespace:
        """Jurisdictions are not implemented locally (as in workerd)."""
        raise DurableObjectError(NO_JURISDICTIONS)

    def __repr__(self) -> str:
        return f"DurableObjectNamespace({self._runtime.label!r})"


class DurableObjectStub:
    """A stub for one object: ``fetch()``, RPC methods, ``id`` and ``name``."""

    __slots__ = ("_runtime", "id")

    def __init__(self, runtime: NamespaceRuntime, object_id: DurableObjectId) -> None:
        self._runtime = runtime
        #: The id this stub was made for.
        self.id = object_id

    @property
    def name(self) -> str | None:
        """The id's name, if it was made by name."""
        return self.id.name

    def _actor(self) -> Actor:
        sender = current_actor.get()
        if sender is not None:
            sender.flush_before_send()  # the output gate for outgoing calls
        return self._runtime.actor(self.id)

    async def fetch(self, input: Any, init: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Send an HTTP request to the object's ``fetch`` handler; returns its Response."""
        options = _options(init, kwargs)
        if isinstance(input, Request):
            request = Request(input, **options) if options else input
        else:
            url = str(input)
            if not urlsplit(url).scheme:
                raise DurableObjectTypeError(f"Fetch API cannot load: {url}")
            request = Request(url, **options)
        actor = self._actor()

        def call(instance: Any) -> Any:
            handler = getattr(instance, "fetch", None) or getattr(instance, "on_fetch", None)
            if handler is None:
                raise DurableObjectTypeError("Handler does not export a fetch() function.")
            return handler(request)

        response = await _entered(actor, call, "fetch")
        if not isinstance(response, FetchResponse):
            raise DurableObjectTypeError(
                f"Durable Object fetch() must return a workers.Response, got "
                f"{type(response).__name__}"
            )
        return response

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _RpcMethod(self, name)

    def __repr__(self) -> str:
        return f"DurableObjectStub({self._runtime.label!r}, {self.id.toString()!r})"


async def _entered(actor: Actor, call: Callable[[Any], Any], what: str) -> Any:
    def with_actor(instance: Any) -> Any:
        current_actor.set(actor)
        before_send.set(actor.flush_before_send)  # the output gate for outbound fetch
        return call(instance)

    return await actor.invoke(with_actor, what=what)


class _RpcMethod:
    """``stub.<name>``: calling it sends an RPC; the call returns an awaitable."""

    __slots__ = ("_name", "_stub")

    def __init__(self, stub: DurableObjectStub, name: str) -> None:
        self._stub = stub
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = self._name
        if name in RESERVED_METHODS:
            raise DurableObjectTypeError(
                f"'{name}' is a reserved method and cannot be called over RPC."
            )
        sent = [clone(a) for a in args]
        if kwargs:  # Pyodide passes keyword arguments as one trailing object
            sent.append(clone(JsDict(kwargs)))
        return self._send(name, sent)

    async def _send(self, name: str, args: list[Any]) -> Any:
        if not callable(getattr(self._stub._runtime.object_class(), name, None)):
            raise DurableObjectTypeError(f"Method {name} does not exist")
        actor = self._stub._actor()

        def call(instance: Any) -> Any:
            method = getattr(instance, name, None)
            if method is None or not callable(method):
                raise DurableObjectTypeError(f"Method {name} does not exist")
            return method(*args)

        return clone(await _entered(actor, call, name))

    def __repr__(self) -> str:
        return f"<RPC method {self._name!r} of {self._stub!r}>"
