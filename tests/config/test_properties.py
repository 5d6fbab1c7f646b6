"""Property tests: every valid config loads alike from TOML, JSON and JSONC; every invalid
value is a ConfigError naming its key path, never another exception."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfemu import limits
from cfemu.config import ConfigWarning, WorkerConfig, load_config
from cfemu.config._errors import format_key_path
from cfemu.errors import ConfigError
from tests.config.strategies import invalid_mutations, valid_configs
from tests.config.writers import write_config

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load_all(cfg: dict[str, Any], environment: str | None = None) -> list[WorkerConfig]:
    # All three files side by side, so paths resolved against the folder agree.
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        loaded = [
            load_config(write_config(Path(tmp), cfg, fmt), environment=environment)
            for fmt in ("toml", "json", "jsonc")
        ]
    for config in loaded:  # the only warning a valid config may give
        assert all("Missing required secrets" in w for w in config.warnings)
    return loaded


def _dump(config: WorkerConfig) -> dict[str, Any]:
    """The model, with each warning's ``file:line:col`` (which differ by format) left out."""
    dump = config.model_dump(exclude={"path"})
    dump["warnings"] = [re.sub(r"^.*?:\d+:\d+: ", "", w) for w in config.warnings]
    return dump


def _check_matches(config: WorkerConfig, cfg: dict[str, Any]) -> None:
    """The model holds what the dict says, with production defaults for the rest."""
    assert config.name == (cfg.get("name") or "worker")
    assert config.main == cfg.get("main")
    assert config.compatibility_date == cfg.get("compatibility_date")
    assert config.compatibility_flags == cfg.get("compatibility_flags", [])
    assert config.vars == cfg.get("vars", {})
    assert [d.binding for d in config.d1_databases] == [
        d["binding"] for d in cfg.get("d1_databases", [])
    ]
    queues = cfg.get("queues", {})
    for got, want in zip(config.queues.producers, queues.get("producers", []), strict=True):
        assert (got.binding, got.queue) == (want["binding"], want["queue"])
        assert got.delivery_delay == want.get("delivery_delay", 0)
    for got_c, want_c in zip(config.queues.consumers, queues.get("consumers", []), strict=True):
        assert got_c.queue == want_c["queue"]
        assert got_c.max_batch_size == want_c.get("max_batch_size", limits.DEFAULT_MAX_BATCH_SIZE)
        assert got_c.max_batch_timeout == want_c.get(
            "max_batch_timeout", limits.DEFAULT_MAX_BATCH_TIMEOUT
        )
        assert got_c.max_retries == want_c.get("max_retries", limits.DEFAULT_MAX_RETRIES)
        assert got_c.dead_letter_queue == want_c.get("dead_letter_queue")
        assert got_c.max_concurrency == want_c.get("max_concurrency")
        assert got_c.retry_delay == want_c.get("retry_delay", 0)
    assert (config.ai.binding if config.ai else None) == cfg.get("ai", {}).get("binding")
    assert config.triggers.crons == cfg.get("triggers", {}).get("crons", [])
    assert config.dev.port == cfg.get("dev", {}).get("port", limits.DEFAULT_DEV_PORT)
    assert config.unknown_keys == []


@SETTINGS
@given(valid_configs())
def test_valid_config_loads_to_the_same_model_from_toml_json_and_jsonc(
    cfg: dict[str, Any],
) -> None:
    toml, json_, jsonc = _load_all(cfg)
    dumps = [_dump(c) for c in (toml, json_, jsonc)]
    assert dumps[0] == dumps[1] == dumps[2]
    _check_matches(toml, cfg)


@SETTINGS
@given(valid_configs(with_dev=False), st.one_of(st.none(), st.just("top")))
def test_valid_environment_section_loads_alike_from_every_format(
    cfg: dict[str, Any], top_name: str | None
) -> None:
    data: dict[str, Any] = {"env": {"staging": cfg}}
    if top_name:
        data["name"] = top_name
    loaded = _load_all(data, environment="staging")
    dumps = [_dump(c) for c in loaded]
    assert dumps[0] == dumps[1] == dumps[2]
    expected_name = cfg.get("name") if "name" in cfg else (top_name and f"{top_name}-staging")
    assert loaded[0].name == (expected_name or "worker")
    assert loaded[0].environment == "staging"
    _check_matches(loaded[0], {**cfg, "name": expected_name})


def _names(key_path: str | None, expected: str) -> bool:
    """``key_path`` is the key itself or a part of it (``compatibility_flags[0]``)."""
    return key_path is not None and (
        key_path == expected or key_path.startswith((expected + "[", expected + "."))
    )


def _expect_error(data: dict[str, Any], fmt: str, environment: str | None) -> ConfigError:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_config(Path(tmp), data, fmt)
        with pytest.raises(ConfigError) as info:
            load_config(path, environment=environment)
    return info.value


@SETTINGS
@given(st.data())
def test_invalid_value_is_a_config_error_naming_its_key_path(data: st.DataObject) -> None:
    cfg = data.draw(valid_configs())
    mutated, loc, value = data.draw(invalid_mutations(cfg))
    formats = ["toml"] if isinstance(value, dt.date) else ["toml", "json", "jsonc"]
    fmt = data.draw(st.sampled_from(formats))
    err = _expect_error(mutated, fmt, None)
    assert _names(err.key_path, format_key_path(loc)), str(err)
    assert err.file is not None and err.file.name == f"wrangler.{fmt}"
    assert err.reason and err.reason in str(err)


@SETTINGS
@given(st.data())
def test_invalid_value_in_an_environment_is_reported_under_env_name(
    data: st.DataObject,
) -> None:
    cfg = data.draw(valid_configs(with_dev=False))
    mutated, loc, value = data.draw(invalid_mutations(cfg, allow_dev=False))
    fmt = "toml" if isinstance(value, dt.date) else data.draw(st.sampled_from(["json", "toml"]))
    err = _expect_error({"name": "top", "env": {"staging": mutated}}, fmt, "staging")
    assert _names(err.key_path, "env.staging." + format_key_path(loc)), str(err)


# --- fuzzing: nothing but ConfigError ever escapes ------------------------------------------
_KEYS = [
    *("name", "main", "compatibility_date", "compatibility_flags", "vars", "secrets"),
    *("required", "d1_databases", "binding", "database_name", "database_id", "queues"),
    *("producers", "consumers", "queue", "delivery_delay", "max_batch_size", "type"),
    *("max_batch_timeout", "max_retries", "dead_letter_queue", "max_concurrency"),
    *("retry_delay", "visibility_timeout_ms", "ai", "triggers", "crons", "dev", "port"),
    *("env", "staging", "kv_namespaces", "durable_objects", "bindings", "text_blobs", "$schema"),
]
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["* * * * *", "61 * * * *", "q", "DB", "2024-01-01", "worker", "\u00b2"]),
)
_NESTED = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=3), inner, max_size=4),
    ),
    max_leaves=20,
)
_JSON_TEXT = st.text(st.sampled_from(list("{}[],:\"/*\n\r \\tx1-.e#='")), max_size=40)


@SETTINGS
@given(
    st.dictionaries(st.sampled_from(_KEYS), _NESTED, max_size=6),
    st.sampled_from(["json", "jsonc"]),
    st.sampled_from([None, "staging"]),
)
def test_any_nested_data_loads_or_is_a_config_error(
    cfg: dict[str, Any], fmt: str, environment: str | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        path = write_config(Path(tmp), cfg, fmt)
        try:
            load_config(path, environment=environment)
        except ConfigError as err:
            assert err.file is not None and err.file.name == path.name and err.reason


@SETTINGS
@given(_JSON_TEXT | st.text(max_size=40), st.sampled_from(["toml", "json", "jsonc"]))
def test_any_text_loads_or_is_a_config_error(text: str, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        path = Path(tmp) / f"wrangler.{fmt}"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            load_config(path)
        except ConfigError as err:
            assert err.file is not None and err.file.name == path.name and err.reason
