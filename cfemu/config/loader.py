"""Finding and loading wrangler configuration files.

:func:`load_config` is the one way in: it parses the file, validates it, resolves an
``[env.NAME]`` section, reads ``.dev.vars`` and returns a :class:`WorkerConfig`. Every
problem is a :class:`~cfemu.errors.ConfigError` naming the file and key path; no parser or
pydantic exception escapes.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cfemu.config._environments import (
    IGNORED,
    is_wrangler_key,
    merge_environment,
    other_binding_names,
)
from cfemu.config._errors import Prefix, config_error_from, format_key_path
from cfemu.config._parse import parse_config_file
from cfemu.config._types import describe, json_value_error
from cfemu.config.dev_vars import load_dev_vars
from cfemu.config.models import DEFAULT_WORKER_NAME, ConfigFile, WorkerConfig
from cfemu.errors import ConfigError

__all__ = ["CONFIG_FILE_NAMES", "ConfigWarning", "find_config", "load_config"]

#: Looked for in this order in each folder, walking up (spec: workers-and-config.md §3.1).
CONFIG_FILE_NAMES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")


class ConfigWarning(UserWarning):
    """A config problem that is not fatal: an unemulated or unknown key, a binding that an
    environment does not inherit, a missing required secret."""


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


def load_config(path: Path | str, *, environment: str | None = None) -> WorkerConfig:
    """Load and validate the wrangler config at ``path`` for ``environment``.

    ``path`` is a ``wrangler.toml``/``.json``/``.jsonc`` file, or a folder to search with
    :func:`find_config`. With ``environment``, the ``[env.<environment>]`` section is
    resolved with Cloudflare's inheritance rules. Local secrets come from ``.dev.vars``
    beside the file. Non-fatal problems are emitted as :class:`ConfigWarning` (once per
    load) and kept in :attr:`WorkerConfig.warnings`.
    """
    file = Path(path)
    file = find_config(file) if file.is_dir() else file.resolve()
    environment = environment or None
    data = parse_config_file(file)
    try:
        config = _resolve(data, file, environment)
    except RecursionError:
        raise ConfigError("values are nested too deeply", file=file) from None
    for message in config.warnings:
        warnings.warn(f"{file}: {message}", ConfigWarning, stacklevel=2)
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
    return model


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


def _extra_keys(model: BaseModel, loc: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = [(*loc, key) for key in (model.model_extra or {})]
    for field in type(model).model_fields:
        value = getattr(model, field)
        if isinstance(value, BaseModel):
            found += _extra_keys(value, (*loc, field))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += _extra_keys(item, (*loc, field, i))
    return found


def _unknown_key_warning(
    locs: list[tuple[str | int, ...]], prefix: Prefix
) -> tuple[list[str], str | None]:
    def path(loc: tuple[str | int, ...]) -> str:
        return prefix(str(loc[0])) + format_key_path(loc)

    paths = [path(loc) for loc in locs]
    known = [path(loc) for loc in locs if is_wrangler_key(loc)]
    unknown = [path(loc) for loc in locs if not is_wrangler_key(loc)]
    parts = []
    if known:
        parts.append(f"cfemu does not emulate these keys yet and ignores them: {', '.join(known)}")
    if unknown:
        parts.append(
            f"unexpected keys that wrangler does not know either (typo?): {', '.join(unknown)}"
        )
    return paths, "; ".join(parts) or None


def _resolve(data: dict[str, Any], file: Path, environment: str | None) -> WorkerConfig:
    top = {k: v for k, v in data.items() if k != "env" and k not in IGNORED}
    top_model = _validate(top, file, _top_prefix)
    messages: list[str] = []
    name = top_model.name or None
    section, model, prefix = top, top_model, _top_prefix
    if environment is not None:
        section = _environment_section(data.get("env"), environment, file)
        effective, from_env, messages = merge_environment(top, section, environment)
        env_prefix = format_key_path(("env", environment)) + "."

        def prefix(key: str) -> str:
            return env_prefix if key in from_env else ""

        model = _validate(effective, file, prefix)
        if "name" in section:
            name = model.name or None
        elif name:
            name = f"{name}-{environment}"
        section = effective

    unknown_keys, unknown_message = _unknown_key_warning(_extra_keys(model), prefix)
    if unknown_message:
        messages.append(unknown_message)

    secrets, secrets_files = load_dev_vars(file.parent, environment)
    required = model.secrets.required if model.secrets is not None else None
    if required is not None:
        allowed = set(required) | set(model.vars)
        secrets = {k: v for k, v in secrets.items() if k in allowed}
        missing = [k for k in required if k not in secrets]
        if missing:
            messages.append(f"Missing required secrets: {', '.join(missing)}")

    return WorkerConfig(
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
        unknown_keys=unknown_keys,
        raw=section,
        warnings=messages,
    )


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
