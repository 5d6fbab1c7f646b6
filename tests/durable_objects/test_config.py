"""[[durable_objects.bindings]] and [[migrations]] (spec: durable-objects.md §1)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from cfemu.config import ConfigWarning, load_config
from cfemu.errors import ConfigError

TOML = """
name = "w"
[[durable_objects.bindings]]
name = "A"
class_name = "Alpha"
[[durable_objects.bindings]]
name = "B"
class_name = "Beta"
script_name = "other"
[[migrations]]
tag = "v1"
new_sqlite_classes = ["Alpha"]
new_classes = ["Legacy"]
[[migrations]]
tag = "v2"
renamed_classes = [{from = "Legacy", to = "Kept"}]
deleted_classes = ["Alpha"]
new_sqlite_classes = ["Alpha"]
"""

JSONC = """{
  // the same in JSONC
  "name": "w",
  "durable_objects": {"bindings": [
    {"name": "A", "class_name": "Alpha"},
    {"name": "B", "class_name": "Beta", "script_name": "other"},
  ]},
  "migrations": [
    {"tag": "v1", "new_sqlite_classes": ["Alpha"], "new_classes": ["Legacy"]},
    {"tag": "v2", "renamed_classes": [{"from": "Legacy", "to": "Kept"}],
     "deleted_classes": ["Alpha"], "new_sqlite_classes": ["Alpha"]},
  ],
}"""


@pytest.mark.parametrize(("file", "text"), [("wrangler.toml", TOML), ("wrangler.jsonc", JSONC)])
def test_bindings_and_migrations_load_from_toml_and_jsonc(
    tmp_path: Path, file: str, text: str
) -> None:
    (tmp_path / file).write_text(text)
    config = load_config(tmp_path / file)
    assert [(b.name, b.class_name, b.script_name) for b in config.durable_object_bindings] == [
        ("A", "Alpha", None),
        ("B", "Beta", "other"),
    ]
    assert config.durable_object_classes() == {"Kept": False, "Alpha": True}
    assert {"A", "B"} <= set(config.binding_names())


def test_bindings_are_not_inherited_but_migrations_are(tmp_path: Path) -> None:
    (tmp_path / "wrangler.toml").write_text(TOML + '\n[env.staging]\nname = "s"\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = load_config(tmp_path / "wrangler.toml", environment="staging")
    assert config.durable_object_bindings == []
    assert len(config.migrations) == 2
    assert any(
        '"durable_objects" exists at the top level' in str(w.message)
        for w in caught
        if issubclass(w.category, ConfigWarning)
    )


@pytest.mark.parametrize(
    ("text", "key_path", "message"),
    [
        (
            '[[durable_objects.bindings]]\nname = "A"\n',
            "durable_objects.bindings[0].class_name",
            "is required",
        ),
        ("[durable_objects]\nbindings = 3\n", "durable_objects.bindings", "must be an array"),
        (
            '[[durable_objects.bindings]]\nname = "A"\nclass_name = "C"\nenvironment = "e"\n',
            "durable_objects.bindings[0]",
            'binding should have a "script_name" field if "environment" is present.',
        ),
        ('[[migrations]]\nnew_classes = ["A"]\n', "migrations[0].tag", "is required"),
        (
            '[[migrations]]\ntag = "v1"\nnew_classes = "A"\n',
            "migrations[0].new_classes",
            "must be an array",
        ),
        (
            '[[migrations]]\ntag = "v1"\ndeleted_classes = ["Nope"]\n',
            "migrations[0].deleted_classes",
            "Cannot apply deleted_classes migration to non-existent class Nope",
        ),
        (
            '[[migrations]]\ntag = "v1"\nnew_classes = ["A"]\n'
            '[[migrations]]\ntag = "v2"\nnew_sqlite_classes = ["A"]\n',
            "migrations[1].new_sqlite_classes",
            "Cannot apply new_sqlite_classes migration to existing class A",
        ),
        (
            '[[migrations]]\ntag = "v1"\n[[migrations]]\ntag = "v1"\n',
            "migrations[1].tag",
            "duplicate migration tag",
        ),
        (
            '[vars]\nA = "x"\n[[durable_objects.bindings]]\nname = "A"\nclass_name = "C"\n',
            "durable_objects.bindings[0].name",
            "is used twice",
        ),
    ],
)
def test_errors_name_the_key_path(tmp_path: Path, text: str, key_path: str, message: str) -> None:
    (tmp_path / "wrangler.toml").write_text('name = "w"\n' + text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "wrangler.toml")
    assert info.value.key_path == key_path
    assert message in info.value.reason


def test_errors_inside_an_environment_name_it(tmp_path: Path) -> None:
    (tmp_path / "wrangler.toml").write_text(
        'name = "w"\n[env.e]\ndurable_objects = { bindings = [{ name = "X" }] }\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "wrangler.toml", environment="e")
    assert info.value.key_path == "env.e.durable_objects.bindings[0].class_name"
