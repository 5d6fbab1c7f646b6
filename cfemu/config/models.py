"""Typed models of a wrangler configuration (pydantic v2).

Defaults and ranges are production Cloudflare's, from :mod:`cfemu.limits`. Section models
allow extra keys: a key wrangler knows but cfemu does not emulate (``ai.remote``,
``dev.inspector_port``) is kept in the model's ``model_extra`` and listed in
:attr:`WorkerConfig.unknown_keys` rather than rejected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cfemu.config._types import (
    AS_INT,
    BindingName,
    CompatibilityDate,
    CronExpression,
    QueueName,
    WorkerName,
    describe,
    fail,
    in_range,
    number_in,
)
from cfemu.limits import (
    D1_DEFAULT_MIGRATIONS_DIR,
    D1_DEFAULT_MIGRATIONS_TABLE,
    DEFAULT_DEV_IP,
    DEFAULT_DEV_PORT,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TIMEOUT,
    DEFAULT_MAX_RETRIES,
    MAX_DELAY_SECONDS,
    MAX_DEV_PORT,
    MAX_MAX_BATCH_SIZE,
    MAX_MAX_BATCH_TIMEOUT,
    MAX_MAX_CONCURRENCY,
    MAX_MAX_RETRIES,
    MAX_VISIBILITY_TIMEOUT_MS,
    MIN_DELAY_SECONDS,
    MIN_DEV_PORT,
    MIN_MAX_BATCH_SIZE,
    MIN_MAX_BATCH_TIMEOUT,
    MIN_MAX_CONCURRENCY,
    MIN_MAX_RETRIES,
    MIN_VISIBILITY_TIMEOUT_MS,
    WORKFLOW_DEFAULT_STEPS,
    WORKFLOW_MAX_NAME_LENGTH,
    WORKFLOW_MAX_STEPS_LIMIT,
)

__all__ = [
    "DEFAULT_WORKER_NAME",
    "AiConfig",
    "AssetsConfig",
    "D1DatabaseConfig",
    "DevConfig",
    "DurableObjectBindingConfig",
    "DurableObjectsConfig",
    "KvNamespaceConfig",
    "MigrationConfig",
    "QueueConsumerConfig",
    "QueueProducerConfig",
    "QueuesConfig",
    "SecretsConfig",
    "TriggersConfig",
    "WorkerConfig",
    "WorkflowConfig",
    "WorkflowLimitsConfig",
]


#: The name of a Worker whose config has no ``name`` (wrangler lets ``wrangler dev`` run
#: unnamed Workers; cfemu needs a name to key ``emulator.workers`` by).
DEFAULT_WORKER_NAME = "worker"


class _Section(BaseModel):
    """A table of the config file: strict types, extra keys kept (and reported)."""

    model_config = ConfigDict(strict=True, extra="allow", validate_default=False)


class D1DatabaseConfig(_Section):
    """One ``[[d1_databases]]`` entry."""

    binding: BindingName
    database_name: str | None = None
    database_id: str | None = None
    preview_database_id: str | None = None
    migrations_dir: str = D1_DEFAULT_MIGRATIONS_DIR
    migrations_table: str = D1_DEFAULT_MIGRATIONS_TABLE
    migrations_pattern: str | None = None
    """A glob (relative to the config's folder, starting with ``<migrations_dir>/``) naming
    the migration files, e.g. ``migrations/*/migration.sql``; default ``<dir>/*.sql``."""
    remote: bool = False
    """``remote = true``: the binding calls Cloudflare's API instead of a local database."""

    @property
    def storage_key(self) -> str:
        """What workers share this database by: ``database_id``, else name, else binding."""
        return self.database_id or self.database_name or self.binding

    def migrations_path(self, base_dir: Path | str) -> Path:
        """The migrations folder, resolved against ``base_dir`` (the config's folder)."""
        return Path(base_dir) / self.migrations_dir

    def migrations_glob(self) -> str:
        """``migrations_pattern`` relative to ``migrations_dir`` (``*.sql`` by default).

        Raises ``MigrationError`` with wrangler's wording when the pattern is set without
        ``migrations_dir`` or does not start with ``<migrations_dir>/``."""
        from cfemu.d1.layout import relative_pattern

        dir_set = "migrations_dir" in self.model_fields_set
        return relative_pattern(self.migrations_dir if dir_set else None, self.migrations_pattern)


class KvNamespaceConfig(_Section):
    """One ``[[kv_namespaces]]`` entry: ``env.<binding>`` is the namespace ``id``."""

    binding: BindingName
    id: str | None = None
    preview_id: str | None = None
    """Accepted (wrangler's remote preview namespace); local state is keyed by ``id``."""

    @property
    def storage_key(self) -> str:
        """What Workers share this namespace by: ``id``, else the binding name."""
        return self.id or self.binding


#: ``[assets] html_handling`` values (spec: kv-assets-workflows-ai.md §2.4).
HtmlHandling = Literal["auto-trailing-slash", "force-trailing-slash", "drop-trailing-slash", "none"]
#: ``[assets] not_found_handling`` values (spec §2.5).
NotFoundHandling = Literal["single-page-application", "404-page", "none"]


class AssetsConfig(_Section):
    """The ``[assets]`` table: a folder of static files served before (or by) the Worker."""

    directory: str
    binding: BindingName | None = None
    html_handling: HtmlHandling = "auto-trailing-slash"
    not_found_handling: NotFoundHandling = "none"
    run_worker_first: bool | list[str] = False

    @field_validator("run_worker_first")
    @classmethod
    def _check_rules(cls, value: bool | list[str]) -> bool | list[str]:
        if isinstance(value, list):
            from cfemu.config._routes import check_run_worker_first

            problem = check_run_worker_first(value)
            if problem:
                raise fail(problem)
        return value

    def directory_path(self, base_dir: Path | str) -> Path:
        """The asset folder, resolved against ``base_dir`` (the config's folder)."""
        return Path(base_dir) / self.directory


class QueueProducerConfig(_Section):
    """One ``[[queues.producers]]`` entry: the binding ``env.<binding>`` sends to ``queue``."""

    binding: BindingName
    queue: QueueName
    delivery_delay: Annotated[int, AS_INT, in_range(MIN_DELAY_SECONDS, MAX_DELAY_SECONDS)] = 0
    remote: bool = False
    """``remote = true``: messages go to the queue on Cloudflare, through its API."""


class QueueConsumerConfig(_Section):
    """One ``[[queues.consumers]]`` entry, with production defaults (spec: queues.md §2, §6)."""

    queue: QueueName
    type: Literal["worker"] = "worker"
    max_batch_size: Annotated[int, AS_INT, in_range(MIN_MAX_BATCH_SIZE, MAX_MAX_BATCH_SIZE)] = (
        DEFAULT_MAX_BATCH_SIZE
    )
    max_batch_timeout: Annotated[float, number_in(MIN_MAX_BATCH_TIMEOUT, MAX_MAX_BATCH_TIMEOUT)] = (
        DEFAULT_MAX_BATCH_TIMEOUT
    )
    max_retries: Annotated[int, AS_INT, in_range(MIN_MAX_RETRIES, MAX_MAX_RETRIES)] = (
        DEFAULT_MAX_RETRIES
    )
    dead_letter_queue: QueueName | None = None
    #: ``None`` = not set: production autoscales; the emulator's default is one batch at a time.
    max_concurrency: (
        Annotated[int, AS_INT, in_range(MIN_MAX_CONCURRENCY, MAX_MAX_CONCURRENCY)] | None
    ) = None
    retry_delay: Annotated[int, AS_INT, in_range(MIN_DELAY_SECONDS, MAX_DELAY_SECONDS)] = 0
    visibility_timeout_ms: (
        Annotated[int, AS_INT, in_range(MIN_VISIBILITY_TIMEOUT_MS, MAX_VISIBILITY_TIMEOUT_MS)]
        | None
    ) = None

    @field_validator("type", mode="before")
    @classmethod
    def _only_worker_consumers(cls, value: Any) -> Any:
        # spec: queues.md §6 - wrangler rejects every consumer type but "worker".
        if value != "worker":
            raise fail(
                f'has an invalid value {describe(value)}. Only "worker" consumers can be '
                "configured in your Wrangler configuration."
            )
        return value


class QueuesConfig(_Section):
    """The ``[queues]`` table."""

    producers: list[QueueProducerConfig] = Field(default_factory=list)
    consumers: list[QueueConsumerConfig] = Field(default_factory=list)


class AiConfig(_Section):
    """The ``[ai]`` table: one Workers AI binding per Worker."""

    binding: BindingName
    remote: bool = False
    """``remote = true``: inference runs on Cloudflare's Workers AI, through its API."""


class TriggersConfig(_Section):
    """The ``[triggers]`` table: cron expressions (``crons = []`` disables them)."""

    crons: list[CronExpression] = Field(default_factory=list)


class DevConfig(_Section):
    """The ``[dev]`` table (top level only): where ``cfemu dev`` listens."""

    ip: str = DEFAULT_DEV_IP
    port: Annotated[int, AS_INT, in_range(MIN_DEV_PORT, MAX_DEV_PORT)] = DEFAULT_DEV_PORT
    local_protocol: Literal["http", "https"] = "http"
    """``https`` needs ``--https-cert-path``/``--https-key-path`` (cfemu makes no certificate)."""


class SecretsConfig(_Section):
    """The ``secrets`` table: ``required`` names the secrets the Worker expects."""

    required: list[str] = Field(default_factory=list)


class DurableObjectBindingConfig(_Section):
    """One ``[[durable_objects.bindings]]`` entry (spec: durable-objects.md §1.1)."""

    name: BindingName
    class_name: BindingName
    script_name: str | None = None
    """The Worker (of the same emulator) exporting the class; ``None``: this Worker."""
    environment: str | None = None

    @model_validator(mode="after")
    def _environment_needs_script(self) -> DurableObjectBindingConfig:
        if self.environment is not None and self.script_name is None:
            raise fail('binding should have a "script_name" field if "environment" is present.')
        return self


class DurableObjectsConfig(_Section):
    """The ``[durable_objects]`` table: its ``bindings`` array is required."""

    bindings: list[DurableObjectBindingConfig]


_WORKFLOW_NAME = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9-_]*$")


class WorkflowLimitsConfig(_Section):
    """The ``limits`` table of a ``[[workflows]]`` entry."""

    steps: Annotated[int, in_range(1, WORKFLOW_MAX_STEPS_LIMIT)] = WORKFLOW_DEFAULT_STEPS


class WorkflowConfig(_Section):
    """One ``[[workflows]]`` entry (spec: kv-assets-workflows-ai.md §3.1)."""

    name: str
    binding: BindingName
    class_name: BindingName
    script_name: str | None = None
    """The Worker (of the same emulator) exporting the class; ``None``: this Worker."""
    limits: WorkflowLimitsConfig = Field(default_factory=WorkflowLimitsConfig)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if len(value) > WORKFLOW_MAX_NAME_LENGTH or not _WORKFLOW_NAME.match(value):
            raise fail(
                f"Workflow name {describe(value)} is invalid: up to "
                f"{WORKFLOW_MAX_NAME_LENGTH} characters of letters, digits, '-' and '_', "
                "not starting with '-'"
            )
        return value


class RenamedClassConfig(_Section):
    """One ``renamed_classes`` entry of a migration: ``{from, to}``."""

    from_: str = Field(alias="from")
    to: str


class TransferredClassConfig(_Section):
    """One ``transferred_classes`` entry of a migration (accepted, ignored locally)."""

    from_: str = Field(alias="from")
    from_script: str
    to: str


class MigrationConfig(_Section):
    """One ``[[migrations]]`` entry (spec: durable-objects.md §1.2)."""

    tag: str
    new_classes: list[str] = Field(default_factory=list)
    new_sqlite_classes: list[str] = Field(default_factory=list)
    renamed_classes: list[RenamedClassConfig] = Field(default_factory=list)
    deleted_classes: list[str] = Field(default_factory=list)
    transferred_classes: list[TransferredClassConfig] = Field(default_factory=list)


class ConfigFile(_Section):
    """One section of a config file (the top level, or one ``[env.NAME]``), as written.

    Internal to the loader: :class:`WorkerConfig` is what callers get.
    """

    name: WorkerName | None = None
    main: str | None = None
    compatibility_date: CompatibilityDate | None = None
    compatibility_flags: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)
    secrets: SecretsConfig | None = None
    d1_databases: list[D1DatabaseConfig] = Field(default_factory=list)
    kv_namespaces: list[KvNamespaceConfig] = Field(default_factory=list)
    queues: QueuesConfig = Field(default_factory=QueuesConfig)
    ai: AiConfig | None = None
    assets: AssetsConfig | None = None
    triggers: TriggersConfig = Field(default_factory=TriggersConfig)
    dev: DevConfig = Field(default_factory=DevConfig)
    durable_objects: DurableObjectsConfig | None = None
    migrations: list[MigrationConfig] = Field(default_factory=list)
    workflows: list[WorkflowConfig] = Field(default_factory=list)


class WorkerConfig(BaseModel):
    """One Worker's configuration: a wrangler file, resolved for one environment.

    ``vars`` holds ``[vars]`` as written (strings and JSON values); ``secrets`` holds the
    values of ``.dev.vars`` (or ``.env``), which the emulator layers over ``vars`` (a
    secret overrides a same-named var, as in ``wrangler dev``).
    """

    model_config = ConfigDict(extra="forbid")

    path: Path
    """The config file, absolute."""
    environment: str | None = None
    """The ``[env.NAME]`` this config was resolved for, or ``None`` for the top level."""
    name: str = DEFAULT_WORKER_NAME
    """The Worker's name: ``<name>-<env>`` in an environment that does not set its own, and
    :data:`DEFAULT_WORKER_NAME` when the file gives none."""
    main: str | None = None
    """The entry point as written in the file."""
    main_path: Path | None = None
    """``main`` resolved against the config's folder."""
    compatibility_date: str | None = None
    compatibility_flags: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    """Local secrets from ``.dev.vars[.<env>]`` (or ``.env`` files)."""
    secrets_files: list[Path] = Field(default_factory=list)
    """The files ``secrets`` were read from, in the order they were applied."""
    required_secrets: list[str] | None = None
    """``secrets.required`` if the file declares it."""
    d1_databases: list[D1DatabaseConfig] = Field(default_factory=list)
    kv_namespaces: list[KvNamespaceConfig] = Field(default_factory=list)
    queues: QueuesConfig = Field(default_factory=QueuesConfig)
    ai: AiConfig | None = None
    assets: AssetsConfig | None = None
    """``[assets]``; its ``directory`` is as written (see :meth:`AssetsConfig.directory_path`)."""
    triggers: TriggersConfig = Field(default_factory=TriggersConfig)
    dev: DevConfig = Field(default_factory=DevConfig)
    durable_objects: DurableObjectsConfig | None = None
    migrations: list[MigrationConfig] = Field(default_factory=list)
    """``[[migrations]]`` in order; :meth:`durable_object_classes` replays them."""
    workflows: list[WorkflowConfig] = Field(default_factory=list)
    """``[[workflows]]``: each puts a Workflow binding on ``env``."""
    unknown_keys: list[str] = Field(default_factory=list)
    """Key paths cfemu keeps but does not act on (reported once as a :class:`ConfigWarning`)."""
    raw: dict[str, Any] = Field(default_factory=dict)
    """The resolved section as parsed, every key included (``raw["kv_namespaces"]``)."""
    warnings: list[str] = Field(default_factory=list)
    """Every warning emitted while loading, in order."""

    @property
    def base_dir(self) -> Path:
        """The folder holding the config file; relative paths in it resolve against this."""
        return self.path.parent

    def binding_names(self) -> list[str]:
        """Every name this config puts on ``env``: vars, secrets, D1, KV, producers, AI,
        assets, Durable Objects, Workflows."""
        names = list(self.vars)
        names += [s for s in self.secrets if s not in self.vars]
        names += [d.binding for d in self.d1_databases]
        names += [k.binding for k in self.kv_namespaces]
        names += [p.binding for p in self.queues.producers]
        if self.ai is not None:
            names.append(self.ai.binding)
        if self.assets is not None and self.assets.binding is not None:
            names.append(self.assets.binding)
        names += [b.name for b in self.durable_object_bindings]
        names += [w.binding for w in self.workflows]
        return names

    @property
    def durable_object_bindings(self) -> list[DurableObjectBindingConfig]:
        """The ``[[durable_objects.bindings]]`` entries (empty when there are none)."""
        return self.durable_objects.bindings if self.durable_objects is not None else []

    def durable_object_classes(self) -> dict[str, bool]:
        """The Durable Object classes the migrations leave, each with whether it is
        SQLite-backed (``new_sqlite_classes``) or KV-backed (``new_classes``).

        The migrations were checked when the config loaded (see the loader), so replaying
        them here cannot fail.
        """
        return replay_migrations(self.migrations)[0]


def replay_migrations(
    migrations: list[MigrationConfig],
) -> tuple[dict[str, bool], tuple[int, str, str] | None]:
    """Replay ``migrations`` as ``wrangler dev`` does (spec: durable-objects.md §1.2).

    Within each entry the order is deleted, renamed, new, new_sqlite. Returns the classes
    (name -> SQLite-backed?) and the first problem as ``(index, field, message)``, or
    ``None``; the replay stops at a problem.
    """
    classes: dict[str, bool] = {}
    for i, migration in enumerate(migrations):
        for name in migration.deleted_classes:
            if name not in classes:
                msg = f"Cannot apply deleted_classes migration to non-existent class {name}"
                return classes, (i, "deleted_classes", msg)
            del classes[name]
        for renamed in migration.renamed_classes:
            if renamed.from_ not in classes:
                msg = (
                    f"Cannot apply renamed_classes migration to non-existent class {renamed.from_}"
                )
                return classes, (i, "renamed_classes", msg)
            classes[renamed.to] = classes.pop(renamed.from_)
        for field, sqlite in (("new_classes", False), ("new_sqlite_classes", True)):
            for name in getattr(migration, field):
                if name in classes:
                    msg = f"Cannot apply {field} migration to existing class {name}"
                    return classes, (i, field, msg)
                classes[name] = sqlite
    return classes, None
