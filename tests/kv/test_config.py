"""``[[kv_namespaces]]`` in a wrangler config: fields, errors, binding names."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu.config import load_config
from cfemu.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wrangler.toml"
    path.write_text('name = "w"\n' + text)
    return path


def test_entries_are_parsed_with_their_storage_key(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[[kv_namespaces]]\nbinding = "A"\nid = "abc"\npreview_id = "p"\n'
            '[[kv_namespaces]]\nbinding = "B"\n',
        )
    )
    a, b = config.kv_namespaces
    assert (a.binding, a.id, a.preview_id, a.storage_key) == ("A", "abc", "p", "abc")
    assert (b.id, b.storage_key) == (None, "B")
    assert config.binding_names() == ["A", "B"]
    assert "kv_namespaces" not in config.unknown_keys


def test_a_missing_binding_names_its_key_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, '[[kv_namespaces]]\nid = "abc"\n'))
    assert info.value.key_path == "kv_namespaces[0].binding"


def test_a_binding_name_shared_with_d1_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            write(
                tmp_path,
                '[[d1_databases]]\nbinding = "X"\n[[kv_namespaces]]\nbinding = "X"\nid = "a"\n',
            )
        )
    assert info.value.key_path == "kv_namespaces[0].binding"
    assert "(KV namespace)" in info.value.reason


def test_kv_namespaces_are_not_inherited_by_environments(tmp_path: Path) -> None:
    path = write(tmp_path, '[[kv_namespaces]]\nbinding = "A"\nid = "a"\n[env.staging]\n')
    with pytest.warns(UserWarning, match='"kv_namespaces" is not inherited'):
        config = load_config(path, environment="staging")
    assert config.kv_namespaces == []
