"""Fixtures for the config tests: write a config file into a fresh folder and load it."""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from cfemu.config import ConfigWarning, WorkerConfig, load_config
from cfemu.errors import ConfigError

WriteFile = Callable[[str, str], Path]
LoadText = Callable[..., WorkerConfig]
LoadError = Callable[..., ConfigError]


@pytest.fixture(autouse=True)
def _no_dot_env_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV", raising=False)


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """``write(name, text)``: write dedented ``text`` to ``tmp_path/name``."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def load(write: WriteFile) -> LoadText:
    """``load(text, name="wrangler.toml", environment=None)``: write a config, load it and
    fail on any ConfigWarning (tests that expect warnings use ``pytest.warns``)."""

    def _load(
        text: str, name: str = "wrangler.toml", environment: str | None = None
    ) -> WorkerConfig:
        path = write(name, text)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConfigWarning)
            return load_config(path, environment=environment)

    return _load


@pytest.fixture
def load_error(write: WriteFile) -> LoadError:
    """``load_error(text, name=..., environment=None)``: the ConfigError loading raises."""

    def _load_error(
        text: str, name: str = "wrangler.toml", environment: str | None = None
    ) -> ConfigError:
        path = write(name, text)
        with pytest.raises(ConfigError) as info:
            load_config(path, environment=environment)
        return info.value

    return _load_error
