"""find_config: wrangler.json > wrangler.jsonc > wrangler.toml, walking up."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu.config import find_config, load_config
from cfemu.errors import ConfigError
from tests.config.conftest import WriteFile


def test_first_found_wins_in_wranglers_order(write: WriteFile, tmp_path: Path) -> None:
    write("wrangler.toml", 'name = "t"')
    assert find_config(tmp_path) == tmp_path / "wrangler.toml"
    write("wrangler.jsonc", '{"name": "c"}')
    assert find_config(tmp_path) == tmp_path / "wrangler.jsonc"
    write("wrangler.json", '{"name": "j"}')
    assert find_config(tmp_path) == tmp_path / "wrangler.json"
    assert load_config(tmp_path).name == "j"


def test_walks_up_to_the_nearest_folder_with_a_config(write: WriteFile, tmp_path: Path) -> None:
    write("wrangler.toml", 'name = "outer"')
    write("inner/wrangler.jsonc", '{"name": "inner"}')
    deep = tmp_path / "inner" / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) == tmp_path / "inner" / "wrangler.jsonc"
    assert find_config(tmp_path / "other") == tmp_path / "wrangler.toml"


def test_a_nearer_toml_beats_a_farther_json(write: WriteFile, tmp_path: Path) -> None:
    write("wrangler.json", "{}")
    write("sub/wrangler.toml", "")
    assert find_config(tmp_path / "sub") == tmp_path / "sub" / "wrangler.toml"


def test_a_file_is_returned_as_is(write: WriteFile) -> None:
    path = write("custom.toml", "")
    assert find_config(path) == path


def test_relative_start_resolves_against_the_working_directory(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("wrangler.toml", "")
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path / "src")
    assert find_config() == tmp_path / "wrangler.toml"
    assert find_config().is_absolute()
    monkeypatch.chdir(tmp_path)
    config = load_config("wrangler.toml")
    assert config.path == tmp_path / "wrangler.toml" and config.path.is_absolute()


def test_no_config_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the root of the file system is above tmp_path's chain; guard against a stray
    # wrangler file higher up by checking the message only when none exists.
    parents_with_config = [
        p
        for p in (tmp_path, *tmp_path.parents)
        for n in ("wrangler.json", "wrangler.jsonc", "wrangler.toml")
        if (p / n).exists()
    ]
    if parents_with_config:
        pytest.skip("a wrangler config exists above the temporary folder")
    with pytest.raises(ConfigError) as info:
        find_config(tmp_path)
    assert str(info.value) == (
        f"{tmp_path.resolve()}: no wrangler.json, wrangler.jsonc or wrangler.toml found in "
        "this folder or any folder above it"
    )
