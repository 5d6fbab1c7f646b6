"""Which wrangler keys exist, and how ``[env.NAME]`` sections inherit them.

spec: workers-and-config.md §3.2. Three kinds of top-level key:

* top-level only (``dev``, ``keep_vars`` ...): read from the top level whatever the
  environment; setting one inside ``[env.NAME]`` has no effect;
* non-inheritable (``vars``, ``d1_databases``, ``queues``, ``ai`` and every other binding):
  an environment has only what it declares itself; wrangler warns when the top level has
  one and the environment does not;
* inheritable (everything else, ``main``, ``compatibility_date``, ``triggers`` ...): copied
  from the top level unless the environment overrides it. ``name`` is special: an
  environment that does not set it gets ``<name>-<env>``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "INHERITABLE",
    "NON_INHERITABLE",
    "TOP_LEVEL_ONLY",
    "is_wrangler_key",
    "merge_environment",
    "not_inherited_warning",
    "other_binding_names",
    "wrangler_keys_at",
]

TOP_LEVEL_ONLY = frozenset(
    {
        "alias",
        "data_blobs",
        "dev",
        "keep_vars",
        "legacy_env",
        "send_metrics",
        "site",
        "text_blobs",
        "wasm_modules",
    }
)

NON_INHERITABLE = frozenset(
    {
        "ai",
        "analytics_engine_datasets",
        "browser",
        "d1_databases",
        "define",
        "dispatch_namespaces",
        "durable_objects",
        "hyperdrive",
        "images",
        "kv_namespaces",
        "mtls_certificates",
        "pipelines",
        "queues",
        "r2_buckets",
        "ratelimits",
        "secrets",
        "secrets_store_secrets",
        "send_email",
        "services",
        "tail_consumers",
        "unsafe",
        "vars",
        "vectorize",
        "version_metadata",
        "workflows",
    }
)

INHERITABLE = frozenset(
    {
        "account_id",
        "assets",
        "base_dir",
        "build",
        "compatibility_date",
        "compatibility_flags",
        "compliance_region",
        "containers",
        "find_additional_modules",
        "first_party_worker",
        "jsx_factory",
        "jsx_fragment",
        "keep_names",
        "limits",
        "logpush",
        "main",
        "migrations",
        "minify",
        "name",
        "no_bundle",
        "node_compat",
        "observability",
        "placement",
        "preserve_file_names",
        "preview_urls",
        "python_modules",
        "route",
        "routes",
        "rules",
        "triggers",
        "tsconfig",
        "upload_source_maps",
        "usage_model",
        "workers_dev",
    }
)

#: Keys wrangler knows inside the sections cfemu models, beyond the ones cfemu reads.
_NESTED_WRANGLER_KEYS: dict[tuple[str, ...], frozenset[str]] = {
    ("d1_databases",): frozenset({"database_internal_env"}),
    ("ai",): frozenset({"staging"}),
    ("kv_namespaces",): frozenset({"remote"}),
    ("assets",): frozenset({"experimental_serve_directly"}),
    ("durable_objects", "bindings"): frozenset({"remote"}),
    ("dev",): frozenset(
        {
            "container_engine",
            "enable_containers",
            "generate_types",
            "host",
            "inspector_port",
            "upstream_protocol",
        }
    ),
}

#: Keys allowed in a file but meaning nothing to a Worker (a JSON schema reference).
IGNORED = frozenset({"$schema"})


#: Binding kinds cfemu does not emulate, and where each keeps its names: ``list`` (an array of
#: tables, the name in ``field``), ``bindings`` (a table whose ``bindings`` array holds them),
#: ``table`` (one table) or ``keys`` (the keys of a table). wrangler checks that binding names
#: are unique across all of these and the emulated kinds (vars, D1, queues, AI).
_OTHER_BINDINGS: tuple[tuple[str, str, str, str], ...] = (
    ("r2_buckets", "R2 bucket", "list", "binding"),
    ("services", "service", "list", "binding"),
    ("analytics_engine_datasets", "Analytics Engine dataset", "list", "binding"),
    ("vectorize", "Vectorize index", "list", "binding"),
    ("hyperdrive", "Hyperdrive config", "list", "binding"),
    ("mtls_certificates", "mTLS certificate", "list", "binding"),
    ("dispatch_namespaces", "dispatch namespace", "list", "binding"),
    ("pipelines", "Pipeline", "list", "binding"),
    ("secrets_store_secrets", "Secrets Store secret", "list", "binding"),
    ("send_email", "Send Email", "list", "name"),
    ("ratelimits", "rate limit", "list", "name"),
    ("unsafe", "unsafe binding", "bindings", "name"),
    ("browser", "Browser Rendering", "table", "binding"),
    ("images", "Images", "table", "binding"),
    ("version_metadata", "version metadata", "table", "binding"),
    ("text_blobs", "text blob", "keys", ""),
    ("data_blobs", "data blob", "keys", ""),
    ("wasm_modules", "Wasm module", "keys", ""),
)


def other_binding_names(section: dict[str, Any]) -> list[tuple[str, str, tuple[str | int, ...]]]:
    """The names the unemulated binding kinds of ``section`` put on ``env``.

    Returns ``(name, kind, location)`` triples. Entries that are not shaped as wrangler
    expects are skipped: cfemu does not validate sections it does not emulate.
    """
    found: list[tuple[str, str, tuple[str | int, ...]]] = []
    for key, kind, shape, field in _OTHER_BINDINGS:
        value = section.get(key)
        items: list[tuple[Any, tuple[str | int, ...]]] = []
        if shape == "list" and isinstance(value, list):
            items = [(item, (key, i)) for i, item in enumerate(value)]
        elif shape == "bindings" and isinstance(value, dict):
            inner = value.get("bindings")
            if isinstance(inner, list):
                items = [(item, (key, "bindings", i)) for i, item in enumerate(inner)]
        elif shape == "table":
            items = [(value, (key,))]
        elif shape == "keys" and isinstance(value, dict):
            found += [(name, kind, (key, name)) for name in value if isinstance(name, str)]
        for item, loc in items:
            if isinstance(item, dict) and isinstance(item.get(field), str):
                found.append((item[field], kind, (*loc, field)))
    return found


def wrangler_keys_at(parent: tuple[str | int, ...]) -> frozenset[str]:
    """The keys wrangler knows inside the table at ``parent`` that cfemu does not model."""
    keys = tuple(part for part in parent if isinstance(part, str))
    if not keys:
        return TOP_LEVEL_ONLY | NON_INHERITABLE | INHERITABLE
    return _NESTED_WRANGLER_KEYS.get(keys, frozenset())


def is_wrangler_key(loc: tuple[str | int, ...]) -> bool:
    """Whether wrangler knows the key at ``loc`` (a path of keys and list indexes)."""
    keys = tuple(part for part in loc if isinstance(part, str))
    if len(keys) == 1:
        return keys[0] in TOP_LEVEL_ONLY | NON_INHERITABLE | INHERITABLE
    return keys[-1] in _NESTED_WRANGLER_KEYS.get(keys[:-1], frozenset())


def not_inherited_warning(field: str, environment: str) -> str:
    """Wrangler's warning for a non-inheritable key missing from an environment."""
    return (
        f'"{field}" exists at the top level, but not on "env.{environment}". This is not what '
        f'you probably want, since "{field}" is not inherited by environments. Please add '
        f'"{field}" to "env.{environment}".'
    )


def merge_environment(
    top: dict[str, Any], section: dict[str, Any], environment: str
) -> tuple[dict[str, Any], set[str], list[tuple[tuple[str | int, ...], str]]]:
    """Resolve ``[env.<environment>]`` against the top level.

    Returns the effective section, the keys that came from the environment itself (so that
    errors in them are reported as ``env.<environment>.<key>``) and the warnings to emit,
    each with the key path it is about.
    ``name`` is left out unless the environment sets it; the caller derives
    ``<name>-<env>`` after validation.
    """
    effective: dict[str, Any] = {}
    from_env: set[str] = set()
    messages: list[tuple[tuple[str | int, ...], str]] = []
    for key, value in top.items():
        if key in NON_INHERITABLE:
            if key not in section:
                messages.append((("env", environment), not_inherited_warning(key, environment)))
        elif key != "name":
            effective[key] = value
    for key, value in section.items():
        if key in TOP_LEVEL_ONLY or key == "env":
            messages.append(
                (
                    ("env", environment, key),
                    f'"env.{environment}.{key}" is ignored: "{key}" is only read from the top '
                    "level of the configuration",
                )
            )
            continue
        if key in IGNORED:
            continue
        effective[key] = value
        from_env.add(key)
    return effective, from_env, messages
