"""Finding and loading wrangler configuration files.

:func:`load_config` is the one way in: it parses the file, validates it, resolves an
``[env.NAME]`` section, reads ``.dev.vars`` and returns a :class:`WorkerConfig`. Every
problem is a :class:`~cfemu.errors.ConfigError` naming the file and key path; no parser or
pydantic exception escapes.
"""

from __future__ import annotations

import difflib
import os
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cfemu.config._environments import (
    IGNORED,
    is_wrangler_key,
    merge_environment,
    other_binding_names,
    wrangler_keys_at,
)
from cfemu.config._errors import Prefix, config_error_from, format_key_path
from cfemu.config._locate import Loc, SourceMap, parse_key_path
from cfemu.config._parse import config_format, parse_config_text, read_config_text
from cfemu.config._types import describe, json_value_error
from cfemu.config.dev_vars import load_dev_vars
from cfemu.config.models import (
    DEFAULT_WORKER_NAME,
    ConfigFile,
    WorkerConfig,
    replay_migrations,
)
from cfemu.errors import ConfigError, config_location

__all__ = ["CONFIG_FILE_NAMES", "ConfigWarning", "find_config", "load_config"]

#: Looked for in this order in each folder, walking up (spec: workers-and-config.md §3.1).
CONFIG_FILE_NAMES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")


class ConfigWarning(UserWarning):
    """A config problem that is not fatal: an unemulated or unknown key, a binding that an
    environment does not inherit, a missing required secret.

    Like :class:`~cfemu.errors.ConfigError`, it names ``file:line:col`` and the key path
    (``file``, ``line``, ``column``, ``key_path``, ``reason``), and Python reports it at that
    line of the config file rather than in cfemu's source.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Path | None = None,
        key_path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.file = file
        self.key_path = key_path
        self.line = line
        self.column = column
        self.reason = message
        super().__init__(config_location(file, line, column, key_path) + message)


#: Warnings already shown in this process, so a config loaded again warns once.
_shown: dict[Any, Any] = {}


@dataclass(frozen=True)
class _Problem:
    """A non-fatal finding of the loader, before it is placed in the file."""

    key_path: str | None
    message: str
    unknown: bool = False  # a key wrangler does not know either: an error with strict=True


class _Source:
    """The config text, scanned for key positions only when a problem needs one."""

    def __init__(self, file: Path, text: str, fmt: str) -> None:
        self.file = file
        self.text = text
        self.fmt = fmt

    @cached_property
    def map(self) -> SourceMap:
        return SourceMap(self.text, self.fmt)

    def position(self, key_path: str | None) -> tuple[int | None, int | None]:
        if not key_path:
            return None, None
        found = self.map.position(parse_key_path(key_path))
        return found if found is not None else (None, None)

    def error(self, exc: ConfigError) -> ConfigError:
        """``exc`` with the line and column of its key path, when it names this file."""
        if exc.line is not None or exc.key_path is None or exc.file != self.file:
            return exc
        line, column = self.position(exc.key_path)
        if line is None:
            return exc
        return ConfigError(
            exc.reason, file=exc.file, key_path=exc.key_path, line=line, column=column
        )

    def warning(self, problem: _Problem) -> ConfigWarning:
        line, column = self.position(problem.key_path)
        return ConfigWarning(
            problem.message, file=self.file, key_path=problem.key_path, line=line, column=column
        )


def find_config(start: Path | str = ".") -> Path:
    """Find the wrangler config for ``start``: the first of ``wrangler.json``,
    ``wrangler.jsonc``, ``wrangler.toml`` in ``start`` or the nearest folder above it.

    ``start`` may also be a config file, which is returned as is. Raises
    :class:`~cfemu.errors.ConfigError` when there is none.
    """
    here = Path(start).resolve()
    if here.is_file():
        return here
    for folder in (here, *here.parents):
        for name in CONFIG_FILE_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    raise ConfigError(
        f"no {', '.join(CONFIG_FILE_NAMES[:-1])} or {CONFIG_FILE_NAMES[-1]} found in this "
        "folder or any folder above it",
        file=here,
    )


def load_config(
    path: Path | str, *, environment: str | None = None, strict: bool = False
) -> WorkerConfig:
    """Load and validate the wrangler config at ``path`` for ``environment``.

    ``path`` is a ``wrangler.toml``/``.json``/``.jsonc`` file, or a folder to search with
    :func:`find_config`. With ``environment``, the ``[env.<environment>]`` section is
    resolved with Cloudflare's inheritance rules. Local secrets come from ``.dev.vars``
    beside the file. Every :class:`~cfemu.errors.ConfigError` names ``file:line:col`` and
    the key path. Non-fatal problems are emitted as :class:`ConfigWarning` (once per
    process) and kept in :attr:`WorkerConfig.warnings`. With ``strict``, a key wrangler does
    not know either (a typo such as ``max_retires``) is an error instead of a warning.
    """
    file = Path(path)
    file = find_config(file) if file.is_dir() else file.resolve()
    environment = environment or None
    fmt = config_format(file)
    text = read_config_text(file)
    data = parse_config_text(text, file=file, fmt=fmt)
    source = _Source(file, text, fmt)
    try:
        config, problems = _resolve(data, file, environment)
    except RecursionError:
        raise ConfigError("values are nested too deeply", file=file) from None
    except ConfigError as exc:
        located = source.error(exc)
        if located is exc:
            raise
        raise located from None
    typos = [p for p in problems if p.unknown] if strict else []
    found = [source.warning(p) for p in problems if p not in typos]
    config = config.model_copy(update={"warnings": [str(w) for w in found]})
    for warning in found:
        warnings.warn_explicit(
            warning,
            ConfigWarning,
            str(file),
            warning.line or 1,
            module=file.name,
            registry=_shown,
        )
    if typos:
        first = source.warning(typos[0])
        more = f" (and {len(typos) - 1} more unknown key(s))" if len(typos) > 1 else ""
        raise ConfigError(
            first.reason + more,
            file=file,
            key_path=first.key_path,
            line=first.line,
            column=first.column,
        )
    return config


def _top_prefix(key: str) -> str:
    return ""


def _validate(data: dict[str, Any], file: Path, prefix: Prefix) -> ConfigFile:
    variables = data.get("vars")
    if isinstance(variables, dict):
        for key, value in variables.items():
            found = json_value_error(value, ("vars", str(key)))
            if found is not None:
                loc, message = found
                raise ConfigError(
                    message, file=file, key_path=prefix("vars") + format_key_path(loc)
                )
    try:
        model = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(exc, file=file, prefix=prefix) from None
    _check_queues(model, file, prefix)
    _check_bindings(model, data, file, prefix)
    _check_migrations(model, file, prefix)
    return model


def _check_migrations(model: ConfigFile, file: Path, prefix: Prefix) -> None:
    seen: dict[str, int] = {}
    base = prefix("migrations") + "migrations"
    for i, migration in enumerate(model.migrations):
        first = seen.setdefault(migration.tag, i)
        if first != i:
            raise ConfigError(
                f"duplicate migration tag {describe(migration.tag)}: also {base}[{first}].tag; "
                "each migration needs its own tag",
                file=file,
                key_path=f"{base}[{i}].tag",
            )
    problem = replay_migrations(model.migrations)[1]
    if problem is not None:
        i, field, message = problem
        raise ConfigError(message, file=file, key_path=f"{base}[{i}].{field}")


def _check_queues(model: ConfigFile, file: Path, prefix: Prefix) -> None:
    owner: dict[str, int] = {}
    base = prefix("queues") + "queues.consumers"
    for i, consumer in enumerate(model.queues.consumers):
        if consumer.dead_letter_queue is not None and consumer.dead_letter_queue == consumer.queue:
            # spec: queues.md §4.4 - wording as Cloudflare's.
            raise ConfigError(
                f'Dead letter queue for queue "{consumer.queue}" cannot be itself',
                file=file,
                key_path=f"{base}[{i}].dead_letter_queue",
            )
        first = owner.setdefault(consumer.queue, i)
        if first != i:
            # spec: queues.md §4.1 - one consumer per queue.
            raise ConfigError(
                f'Multiple consumers defined for queue "{consumer.queue}": '
                f"{base}[{first}] and {base}[{i}]",
                file=file,
                key_path=f"{base}[{i}].queue",
            )


def _check_bindings(model: ConfigFile, data: dict[str, Any], file: Path, prefix: Prefix) -> None:
    claims: list[tuple[str, str, str]] = []  # (name, kind, key path)
    claims += [(k, "var", prefix("vars") + format_key_path(("vars", k))) for k in model.vars]
    claims += [
        (d.binding, "D1 database", f"{prefix('d1_databases')}d1_databases[{i}].binding")
        for i, d in enumerate(model.d1_databases)
    ]
    claims += [
        (p.binding, "queue producer", f"{prefix('queues')}queues.producers[{i}].binding")
        for i, p in enumerate(model.queues.producers)
    ]
    claims += [
        (k.binding, "KV namespace", f"{prefix('kv_namespaces')}kv_namespaces[{i}].binding")
        for i, k in enumerate(model.kv_namespaces)
    ]
    if model.ai is not None:
        claims.append((model.ai.binding, "AI", f"{prefix('ai')}ai.binding"))
    if model.assets is not None and model.assets.binding is not None:
        claims.append((model.assets.binding, "assets", f"{prefix('assets')}assets.binding"))
    if model.durable_objects is not None:
        claims += [
            (
                b.name,
                "Durable Object",
                f"{prefix('durable_objects')}durable_objects.bindings[{i}].name",
            )
            for i, b in enumerate(model.durable_objects.bindings)
        ]
    claims += [
        (w.binding, "Workflow", f"{prefix('workflows')}workflows[{i}].binding")
        for i, w in enumerate(model.workflows)
    ]
    claims += [
        (name, kind, prefix(str(loc[0])) + format_key_path(loc))
        for name, kind, loc in other_binding_names(data)
    ]
    seen: dict[str, tuple[str, str]] = {}
    for name, kind, path in claims:
        if name in seen:
            other_kind, other_path = seen[name]
            raise ConfigError(
                f"binding name {describe(name)} is used twice: by {other_path} ({other_kind}) "
                f"and by {path} ({kind}); bindings must have unique names",
                file=file,
                key_path=path,
            )
        seen[name] = (kind, path)


def _extra_keys(model: BaseModel, loc: Loc = ()) -> list[tuple[Loc, frozenset[str]]]:
    """Every key of ``model`` (recursively) that it does not define, with the keys it does."""
    fields = frozenset((info.alias or name) for name, info in type(model).model_fields.items())
    found: list[tuple[Loc, frozenset[str]]] = [
        ((*loc, key), fields) for key in (model.model_extra or {})
    ]
    for field in type(model).model_fields:
        value = getattr(model, field)
        if isinstance(value, BaseModel):
            found += _extra_keys(value, (*loc, field))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += _extra_keys(item, (*loc, field, i))
    return found


def _unknown_key_problems(
    found: list[tuple[Loc, frozenset[str]]], prefix: Prefix
) -> tuple[list[str], list[_Problem]]:
    paths: list[str] = []
    problems: list[_Problem] = []
    for loc, fields in found:
        path = prefix(str(loc[0])) + format_key_path(loc)
        paths.append(path)
        if is_wrangler_key(loc):
            problems.append(_Problem(path, "cfemu does not emulate this key yet and ignores it"))
            continue
        key = str(loc[-1])
        candidates = sorted(fields | wrangler_keys_at(loc[:-1]))
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        problems.append(
            _Problem(path, f"unknown key, which wrangler does not know either{hint}", True)
        )
    return paths, problems


def _resolve(
    data: dict[str, Any], file: Path, environment: str | None
) -> tuple[WorkerConfig, list[_Problem]]:
    top = {k: v for k, v in data.items() if k != "env" and k not in IGNORED}
    top_model = _validate(top, file, _top_prefix)
    problems: list[_Problem] = []
    name = top_model.name or None
    section, model, prefix = top, top_model, _top_prefix
    if environment is not None:
        section = _environment_section(data.get("env"), environment, file)
        effective, from_env, messages = merge_environment(top, section, environment)
        problems += [_Problem(format_key_path(loc), text) for loc, text in messages]
        env_prefix = format_key_path(("env", environment)) + "."

        def prefix(key: str) -> str:
            return env_prefix if key in from_env else ""

        model = _validate(effective, file, prefix)
        if "name" in section:
            name = model.name or None
        elif name:
            name = f"{name}-{environment}"
        section = effective

    unknown_keys, unknown = _unknown_key_problems(_extra_keys(model), prefix)
    problems += unknown

    secrets, secrets_files = load_dev_vars(file.parent, environment)
    required = model.secrets.required if model.secrets is not None else None
    if required is not None:
        allowed = set(required) | set(model.vars)
        secrets = {k: v for k, v in secrets.items() if k in allowed}
        missing = [k for k in required if k not in secrets]
        if missing:
            problems.append(
                _Problem(
                    prefix("secrets") + "secrets.required",
                    f"Missing required secrets: {', '.join(missing)}",
                )
            )

    config = WorkerConfig(
        path=file,
        environment=environment,
        name=name or DEFAULT_WORKER_NAME,
        main=model.main,
        main_path=Path(os.path.normpath(file.parent / model.main)) if model.main else None,
        compatibility_date=model.compatibility_date,
        compatibility_flags=model.compatibility_flags,
        vars=model.vars,
        secrets=secrets,
        secrets_files=secrets_files,
        required_secrets=required,
        d1_databases=model.d1_databases,
        kv_namespaces=model.kv_namespaces,
        queues=model.queues,
        ai=model.ai,
        assets=model.assets,
        triggers=model.triggers,
        dev=model.dev,
        durable_objects=model.durable_objects,
        migrations=model.migrations,
        workflows=model.workflows,
        unknown_keys=unknown_keys,
        raw=section,
    )
    return config, problems


def _environment_section(envs: Any, environment: str, file: Path) -> dict[str, Any]:
    if envs is not None and not isinstance(envs, dict):
        raise ConfigError(
            f"must be a table (a JSON object), got {describe(envs)}", file=file, key_path="env"
        )
    defined = sorted(envs or {})
    if environment not in defined:
        listed = ", ".join(f'"{n}"' for n in defined) if defined else "none"
        raise ConfigError(
            f'environment "{environment}" is not defined; defined environments: {listed}',
            file=file,
            key_path=format_key_path(("env", environment)),
        )
    section = (envs or {})[environment]
    if not isinstance(section, dict):
        raise ConfigError(
            f"must be a table (a JSON object), got {describe(section)}",
            file=file,
            key_path=format_key_path(("env", environment)),
        )
    return section
