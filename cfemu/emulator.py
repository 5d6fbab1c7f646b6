"""The :class:`Emulator`: config → bindings → Workers → queue broker, and their lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import httpx

from cfemu._contain import watch_signals
from cfemu._crons import CronTriggers
from cfemu._faults import Faults
from cfemu._tasks import TaskTracker
from cfemu._time import TimeKeeper
from cfemu.bindings import SERVICES, BindingService, NotMine, ServiceContext
from cfemu.clock import Clock, RealClock
from cfemu.compat import compat_for
from cfemu.config import WorkerConfig, load_config
from cfemu.errors import CfemuError, ConfigError, WorkerError
from cfemu.limits import DEFAULT_MAX_REQUEST_BODY_BYTES
from cfemu.runtime.env import Env
from cfemu.runtime.transport import Dispatch, WorkerTransport, asgi_app
from cfemu.runtime.worker import Worker
from cfemu.state import StateLock

if TYPE_CHECKING:
    from collections.abc import Collection

    from cfemu.ai import AiBinding, AiSettings
    from cfemu.d1 import D1Database
    from cfemu.queues import Broker, QueueView
    from cfemu.queues.service import QueueService

__all__ = ["Emulator"]

log = logging.getLogger("cfemu")

_Service = TypeVar("_Service", bound=BindingService)

#: How many steps (timers fired, rounds of busy work) ``drain()`` takes before it gives up.
DEFAULT_DRAIN_MAX_STEPS = 200_000
#: Real seconds a closing emulator (on the real clock) lets in-flight batches finish.
DEFAULT_SHUTDOWN_GRACE_SECONDS = 10.0


class Emulator:
    """One or more Workers with their Queues, D1 databases, vars, secrets and AI, in-process.

    Build one with :meth:`from_config` (one ``wrangler.toml``) or :meth:`from_configs`
    (several Workers sharing queues and D1 databases by name), then ``async with emulator:``.
    Nothing listens on a socket unless ``cfemu dev`` serves :meth:`asgi`.
    """

    def __init__(
        self,
        configs: Sequence[WorkerConfig],
        *,
        persist_to: Path | str | None = None,
        clock: Clock | None = None,
        ai: AiSettings | None = None,
        dev_mode: bool = False,
        max_request_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_BYTES,
        extra_vars: Mapping[str, Any] | None = None,
        faults_seed: int = 0,
        shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS,
    ) -> None:
        if not configs:
            raise ConfigError("an Emulator needs at least one Worker configuration")
        seen: dict[str, WorkerConfig] = {}
        for config in configs:
            first = seen.setdefault(config.name, config)
            if first is not config:
                raise ConfigError(
                    f"two configurations define the same Worker name {config.name!r}: "
                    f"{first.path} and {config.path}; set 'name' in each so every Worker "
                    f"has its own",
                    file=config.path,
                )
        self.configs: tuple[WorkerConfig, ...] = tuple(configs)
        self.persist_to: Path | None = Path(persist_to).resolve() if persist_to else None
        self.clock: Clock = clock if clock is not None else RealClock()
        self.dev_mode = dev_mode
        self.max_request_body_bytes = max_request_body_bytes
        self.extra_vars = dict(extra_vars or {})
        #: The fault-injection switchboard every binding consults (see ``cfemu.testing``).
        self.faults = Faults(seed=faults_seed)
        self.faults.known_targets = self._fault_targets
        self.tracker = TaskTracker()
        self.workers: dict[str, Worker] = {}
        self._lock: StateLock | None = None
        self._started = False
        self._crons = CronTriggers(self.clock, self.tracker, self.workers)
        self._context = ServiceContext(
            clock=self.clock,
            tracker=self.tracker,
            faults=self.faults,
            configs=self.configs,
            persist_to=self.persist_to,
            dev_mode=dev_mode,
            workers=self.workers,
            options={
                "ai.settings": ai,
                "queues.shutdown_grace_seconds": shutdown_grace_seconds,
            },
        )
        #: The running service of every binding kind the configs use, by kind name.
        self.services: dict[str, BindingService] = {
            entry.kind: entry.load()(self._context)
            for entry in SERVICES
            if entry.always or any(entry.used_by(c) for c in self.configs)
        }
        self._time = TimeKeeper(self.clock, self.tracker, self.services.values, self._busy_summary)
        self._unwatch_signals: Callable[[], None] = lambda: None

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        path: Path | str = "wrangler.toml",
        *,
        environment: str | None = None,
        persist_to: Path | str | None = None,
        clock: Clock | None = None,
        ai: AiSettings | None = None,
        dev_mode: bool = False,
        extra_vars: Mapping[str, Any] | None = None,
        faults_seed: int = 0,
        strict: bool = False,
    ) -> Self:
        """An emulator for the Worker configured by one wrangler config file.

        ``strict=True`` makes a key wrangler does not know (a typo) an error, not a warning.
        """
        return cls.from_configs(
            [path],
            environment=environment,
            strict=strict,
            persist_to=persist_to,
            clock=clock,
            ai=ai,
            dev_mode=dev_mode,
            extra_vars=extra_vars,
            faults_seed=faults_seed,
        )

    @classmethod
    def from_configs(
        cls,
        paths: Iterable[Path | str],
        *,
        environment: str | None = None,
        persist_to: Path | str | None = None,
        clock: Clock | None = None,
        ai: AiSettings | None = None,
        dev_mode: bool = False,
        extra_vars: Mapping[str, Any] | None = None,
        faults_seed: int = 0,
        strict: bool = False,
    ) -> Self:
        """An emulator for several Workers sharing queues and D1 databases by name.

        The first config is the primary Worker (:attr:`env`, :meth:`client`). A message one
        Worker produces is consumed by the Worker whose config declares the consumer.
        ``strict=True`` makes a key wrangler does not know (a typo) an error.
        """
        configs = [load_config(p, environment=environment, strict=strict) for p in paths]
        return cls(
            configs,
            persist_to=persist_to,
            clock=clock,
            ai=ai,
            dev_mode=dev_mode,
            extra_vars=extra_vars,
            faults_seed=faults_seed,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        if self._started:
            # A nested ``async with`` would close the emulator under the outer one on exit.
            raise CfemuError(
                "the emulator is already started (by an enclosing 'async with' or the "
                "pytest fixture); use it directly instead of entering it again"
            )
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Open every binding kind's stores, load every Worker and attach its consumers."""
        if self._started:
            return
        try:
            await self._start()
        except BaseException:
            await self._close_resources()
            self.workers.clear()
            raise
        self._started = True
        self._unwatch_signals = watch_signals()  # a real Ctrl-C is never a Worker's failure

    async def _start(self) -> None:
        self.workers.clear()  # a restart (reset) loads every Worker afresh
        if self.persist_to is not None:
            self._lock = StateLock.acquire(self.persist_to)
        services = list(self.services.values())
        for service in services:
            await service.start()
        if self._lock is not None:
            self._lock.record_files()  # the files the services opened now hold data
        for config in self.configs:
            env = Env(self._bindings_for(config))
            main = config.main_path
            if main is None:
                worker = Worker.empty(name=config.name, env=env)
            else:
                worker = Worker.load(
                    main,
                    name=config.name,
                    env=env,
                    clock=self.clock,
                    tracker=self.tracker,
                    dev_mode=self.dev_mode,
                    max_request_body_bytes=self.max_request_body_bytes,
                    compat=compat_for(config),
                )
            self.workers[config.name] = worker
        for service in services:
            service.attach()
        for service in services:
            service.begin()

    def service(self, kind: type[_Service]) -> _Service:
        """The running service of a binding kind, e.g. ``emulator.service(QueueService)``."""
        found = self.services.get(kind.kind)
        if not isinstance(found, kind):
            used = ", ".join(sorted(self.services)) or "none"
            raise CfemuError(
                f"no {kind.kind!r} bindings in this emulator's configs (kinds in use: {used})"
            )
        return found

    def _fault_targets(self, point: str) -> Collection[str] | None:
        """What a fault at ``point`` may target (``None``: anything, e.g. any AI model)."""
        for service in self.services.values():
            targets = service.fault_targets(point)
            if not isinstance(targets, NotMine):
                return targets
        return None

    def _bindings_for(self, config: WorkerConfig) -> dict[str, Any]:
        bindings: dict[str, Any] = dict(config.vars)
        bindings.update(config.secrets)
        bindings.update(self.extra_vars)
        for service in self.services.values():
            bindings.update(service.bindings_for(config))
        return bindings

    async def aclose(self) -> None:
        """Stop delivering, let in-flight batches finish (or return them), close everything."""
        await self._close_resources()
        self._started = False
        self._unwatch_signals()

    def start_crons(self) -> None:
        """Fire each Worker's ``[triggers] crons`` on schedule (``cfemu dev`` does this).

        Not started by default: under a virtual clock a cron would keep ``drain()`` busy
        forever. Tests call the scheduled handler directly instead.
        """
        self._require_started()
        self._crons.start(self.configs)

    async def _close_resources(self) -> None:
        self._crons.cancel()
        services = list(self.services.values())
        try:
            for service in services:
                await service.stop()
            await self.tracker.aclose()
        finally:
            try:
                for service in reversed(services):
                    await service.aclose()
            finally:
                if self._lock is not None:
                    self._lock.release()
                    self._lock = None

    # -- what users hold --------------------------------------------------------------------
    @property
    def worker(self) -> Worker:
        """The primary Worker (the first configuration's)."""
        self._require_started()
        return self.workers[self.configs[0].name]

    @property
    def env(self) -> Env:
        """The primary Worker's ``env``: every binding, var and secret by name."""
        return self.worker.env

    @property
    def queues(self) -> Mapping[str, QueueView]:
        """Every queue by name, for inspection (ready, delayed, in flight, ``stats()``).

        Still readable after the emulator closed (the last run's queues), so a test can
        assert on ``stats()`` after ``async with emulator:``.
        """
        broker = self._queue_service().broker
        if broker is None:
            self._require_started()
        assert broker is not None
        return broker.queues

    @property
    def broker(self) -> Broker:
        """The queue broker shared by every Worker of this emulator."""
        self._require_started()
        broker = self._queue_service().broker
        assert broker is not None
        return broker

    def _queue_service(self) -> QueueService:
        from cfemu.queues.service import QueueService

        return self.service(QueueService)

    @property
    def ai(self) -> AiBinding:
        """The Workers AI binding (``env.AI``): register local models, read ``stats()``."""
        from cfemu.ai.service import AiService

        return self.service(AiService).binding

    @property
    def ai_settings(self) -> AiSettings:
        """The settings of the Workers AI binding."""
        from cfemu.ai.service import AiService

        return self.service(AiService).settings

    @property
    def shutdown_grace_seconds(self) -> float:
        """Real seconds ``aclose()`` lets batches in flight finish (real clock only)."""
        return float(self._context.options["queues.shutdown_grace_seconds"])  # type: ignore[arg-type]

    @property
    def databases(self) -> Mapping[str, D1Database]:
        """The open D1 databases by storage key (``database_id``, else name, else binding)."""
        from cfemu.d1.service import D1Service

        service = self.services.get(D1Service.kind)
        return service.databases if isinstance(service, D1Service) else {}

    def _worker(self, name: str | None) -> Worker:
        """The Worker named ``name`` (default: the primary one); a clear error otherwise."""
        if name is None:
            return self.worker
        self._require_started()
        found = self.workers.get(name)
        if found is None:
            raise WorkerError(f"no Worker named {name!r}; Workers: {sorted(self.workers)}")
        return found

    def database(self, binding: str, *, worker: str | None = None) -> D1Database:
        """The D1 database bound as ``binding`` in ``worker`` (default: the primary Worker)."""
        from cfemu.d1 import D1Database

        env = self._worker(worker).env
        value = getattr(env, binding)
        if not isinstance(value, D1Database):
            raise ConfigError(f"binding {binding!r} is not a D1 database")
        return value

    def client(
        self, worker: str | None = None, *, trust_forwarded: bool = False, **kwargs: Any
    ) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` whose requests go straight to the Worker's ``fetch``
        (``trust_forwarded``: honour ``Forwarded``/``X-Forwarded-*``)."""
        target = self._worker(worker)
        kwargs.setdefault("base_url", "http://localhost")
        transport = WorkerTransport(
            target, dispatch=self._dispatch(target), trust_forwarded=trust_forwarded
        )
        return httpx.AsyncClient(transport=transport, **kwargs)

    def asgi(
        self,
        worker: str | None = None,
        *,
        test_scheduled: bool = False,
        trust_forwarded: bool = False,
        body_timeout: float | None = None,
    ) -> Any:
        """An ASGI application serving the Worker, for uvicorn or any ASGI server (options:
        :class:`~cfemu.runtime.transport.WorkerASGIApp`)."""
        target = self._worker(worker)
        return asgi_app(
            target,
            dispatch=self._dispatch(target),
            test_scheduled=test_scheduled,
            trust_forwarded=trust_forwarded,
            body_timeout=body_timeout,
        )

    def _dispatch(self, worker: Worker) -> Dispatch:
        """The Worker's HTTP entry, with what services put in front of it (assets)."""
        config = self._config_of(worker.name)
        dispatch: Dispatch = worker.fetch
        for service in self.services.values():
            dispatch = service.wrap_fetch(config, dispatch)
        return dispatch

    def _config_of(self, worker: str | None) -> WorkerConfig:
        if worker is None:
            return self.configs[0]
        for config in self.configs:
            if config.name == worker:
                return config
        raise WorkerError(f"no Worker named {worker!r}; Workers: {sorted(self.workers)}")

    def _migrations_of(self, binding: str, worker: str | None) -> tuple[D1Database, Path, str, str]:
        """The database bound as ``binding`` (or named so), its migrations folder, table
        and file pattern."""
        from cfemu.d1.service import D1Service

        self._require_started()
        config = self._config_of(worker)
        service = self.services.get(D1Service.kind)
        if not isinstance(service, D1Service):
            raise ConfigError(
                f"no D1 database {binding!r} in Worker {config.name!r}; D1 bindings: none",
                file=config.path,
            )
        return service.migrations_of(config, binding)

    async def apply_migrations(
        self, binding: str = "DB", *, worker: str | None = None
    ) -> list[str]:
        """Apply the D1 database's pending migrations (wrangler's rules); return their names."""
        from cfemu.d1 import apply_migrations

        db, folder, table, pattern = self._migrations_of(binding, worker)
        return await apply_migrations(db, folder, table=table, pattern=pattern)

    async def pending_migrations(
        self, binding: str = "DB", *, worker: str | None = None
    ) -> list[str]:
        """Names of the D1 database's migrations not applied yet."""
        from cfemu.d1 import pending_migrations

        db, folder, table, pattern = self._migrations_of(binding, worker)
        return await pending_migrations(db, folder, table=table, pattern=pattern)

    # -- time ------------------------------------------------------------------------------------
    async def drain(
        self, *, max_steps: int = DEFAULT_DRAIN_MAX_STEPS, max_seconds: float | None = 60.0
    ) -> None:
        """Deliver until no message is ready, delayed or in flight, and background work is done.

        Under a :class:`VirtualClock` nothing sleeps: virtual time jumps to the next timer
        (batch timeout, send or retry delay) whenever nothing else can progress. Raises
        :class:`DrainError` when the work does not settle within ``max_steps`` timers (e.g. a
        handler that keeps sending) or ``max_seconds`` of real time (a handler stuck on I/O).
        """
        self._require_started()
        await self._time.drain(max_steps=max_steps, max_seconds=max_seconds)

    async def advance(self, seconds: float) -> None:
        """Move the virtual clock ``seconds`` forward, delivering whatever falls due on the way."""
        self._require_started()
        await self._time.advance(seconds)

    def _busy_summary(self) -> str:
        parts = [part for service in self.services.values() for part in service.busy()]
        if self.tracker.tasks:
            parts.append(f"{len(self.tracker.tasks)} background task(s)")
        return ", ".join(parts) or "nothing"

    def _require_started(self) -> None:
        if not self._started:
            raise CfemuError("the emulator is not started: use 'async with emulator:'")
