"""``[assets]`` in a wrangler config: defaults, enums, run_worker_first validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu.config import load_config
from cfemu.errors import ConfigError


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "wrangler.toml"
    path.write_text('name = "w"\n' + text)
    return load_config(path)


def error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value


def test_defaults_and_binding_name(tmp_path: Path) -> None:
    config = load(tmp_path, '[assets]\ndirectory = "public"\nbinding = "ASSETS"\n')
    assets = config.assets  # type: ignore[attr-defined]
    assert (assets.html_handling, assets.not_found_handling, assets.run_worker_first) == (
        "auto-trailing-slash",
        "none",
        False,
    )
    assert assets.directory_path(tmp_path) == tmp_path / "public"
    assert config.binding_names() == ["ASSETS"]  # type: ignore[attr-defined]


def test_unknown_modes_name_the_key(tmp_path: Path) -> None:
    err = error(tmp_path, '[assets]\ndirectory = "p"\nhtml_handling = "sometimes"\n')
    assert err.key_path == "assets.html_handling"
    err = error(tmp_path, '[assets]\ndirectory = "p"\nnot_found_handling = "spa"\n')
    assert err.key_path == "assets.not_found_handling"
    assert error(tmp_path, "[assets]\n").key_path == "assets.directory"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("[]", "No `run_worker_first` rules were provided; must provide at least 1 rule."),
        (
            str([f"/r{i}" for i in range(101)]).replace("'", '"'),
            "Too many `run_worker_first` rules were provided; 101 rules provided exceeds max "
            "of 100.",
        ),
        (
            '["!/a"]',
            "Only negative `run_worker_first` rules were provided; must provide at least 1 "
            "non-negative rule",
        ),
        ('["api/*"]', "Invalid routes in `run_worker_first`:\n'api/*': rules must start"),
        ('["/a", "!a"]', "'!a': negative rules must start with '!/'"),
        ('["/a", "/a"]', "'/a': rule is a duplicate"),
        ('["/api/*", "/api/x"]', "'/api/x': rule '/api/*' makes it redundant"),
    ],
)
def test_run_worker_first_rules_are_validated(tmp_path: Path, rules: str, message: str) -> None:
    err = error(tmp_path, f'[assets]\ndirectory = "p"\nrun_worker_first = {rules}\n')
    assert err.key_path == "assets.run_worker_first"
    assert message in err.reason


def test_assets_binding_name_must_be_unique(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        '[vars]\nASSETS = "x"\n[assets]\ndirectory = "p"\nbinding = "ASSETS"\n',
    )
    assert err.key_path == "assets.binding"
