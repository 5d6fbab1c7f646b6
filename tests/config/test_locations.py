"""Config mistakes name ``file:line:col`` and the key path; typos get a suggestion; strict mode."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfemu.config import ConfigWarning, load_config
from cfemu.config._locate import SourceMap, parse_key_path
from cfemu.errors import ConfigError
from tests.config.conftest import LoadError, WriteFile
from tests.config.writers import toml_key, write_config

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CONSUMERS_TOML = """\
name = "app"

[[queues.consumers]]
queue = "a"

[[queues.consumers]]
queue = "b"
max_batch_size = 500
"""

CONSUMERS_JSONC = """\
{
  // two consumers
  "name": "app",
  "queues": {
    "consumers": [
      { "queue": "a" },
      { "queue": "b", /* too big: */ "max_batch_size": 500 },
    ],
  },
}
"""


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("wrangler.toml", CONSUMERS_TOML, (8, 1)),
        ("wrangler.jsonc", CONSUMERS_JSONC, (7, 38)),
        ("wrangler.json", CONSUMERS_JSONC.replace("// two consumers", ""), (7, 38)),
    ],
)
def test_a_range_error_names_the_line_and_column_in_every_format(
    load_error: LoadError, tmp_path: Path, name: str, text: str, where: tuple[int, int]
) -> None:
    err = load_error(text, name)
    assert err.key_path == "queues.consumers[1].max_batch_size"
    assert (err.line, err.column) == where
    assert str(err) == (
        f"{tmp_path / name}:{where[0]}:{where[1]}: queues.consumers[1].max_batch_size: "
        "must be between 1 and 100, got 500"
    )


def test_a_missing_key_points_at_its_table(load_error: LoadError) -> None:
    err = load_error('name = "a"\n\n[[queues.producers]]\nqueue = "q"\n')
    assert err.key_path == "queues.producers[0].binding"
    assert (err.line, err.column) == (3, 1)


def test_errors_inside_an_environment_and_inline_tables_are_placed(
    load_error: LoadError,
) -> None:
    err = load_error(
        'name = "a"\n[env.staging]\nvars = { OK = "x", "a.b" = { deep = [1, 2] } }\n'
        "d1_databases = [{ binding = 5 }]\n",
        environment="staging",
    )
    assert err.key_path == "env.staging.d1_databases[0].binding"
    assert (err.line, err.column) == (4, 19)


def test_a_cross_field_error_is_placed_too(load_error: LoadError) -> None:
    err = load_error('[[queues.consumers]]\nqueue = "q"\n  dead_letter_queue = "q"\n')
    assert err.key_path == "queues.consumers[0].dead_letter_queue"
    assert (err.line, err.column) == (3, 3)


def test_a_config_error_has_no_chained_context(load_error: LoadError) -> None:
    # Printed by a traceback, the error must not drag "During handling of ..." with it.
    err = load_error("[[queues.consumers]]\nqueue = 5\n")
    assert err.__cause__ is None and err.__suppress_context__


@pytest.mark.parametrize(
    ("text", "key_path", "suggestion"),
    [
        ('[[queues.consumers]]\nqueue = "q"\nmax_retires = 2\n', "queues.consumers[0].max_retires",
         "max_retries"),
        ('[[queue.producers]]\nbinding = "ORDERS"\nqueue = "orders"\n', "queue", "queues"),
        ('compatability_date = "2026-01-01"\n', "compatability_date", "compatibility_date"),
        ("[dev]\nprot = 8788\n", "dev.prot", "port"),
    ],
)  # fmt: skip
def test_an_unknown_key_suggests_the_close_one(
    write: WriteFile, text: str, key_path: str, suggestion: str
) -> None:
    path = write("wrangler.toml", text)
    with pytest.warns(ConfigWarning) as record:
        load_config(path)
    (warning,) = [w.message for w in record]
    assert isinstance(warning, ConfigWarning)
    assert warning.key_path == key_path
    assert warning.reason.endswith(f"did you mean `{suggestion}`?")
    assert str(warning).startswith(f"{path}:{warning.line}:")


def test_a_far_off_unknown_key_gets_no_suggestion(write: WriteFile) -> None:
    path = write("wrangler.toml", "zzqx = 1\n")
    with pytest.warns(ConfigWarning) as record:
        load_config(path)
    assert str(record[0].message) == (
        f"{path}:1:1: zzqx: unknown key, which wrangler does not know either"
    )


def test_warnings_are_attributed_to_the_config_file_and_shown_once(write: WriteFile) -> None:
    path = write("wrangler.toml", 'name = "a"\n\n[[queues.consumers]]\nqueue = "q"\nsurprise = 1\n')
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("default")
        load_config(path)
        load_config(path)  # a reload, a second fixture: not a second warning
    assert len(record) == 1
    assert (record[0].filename, record[0].lineno) == (str(path), 5)


def test_strict_makes_an_unknown_key_an_error(write: WriteFile) -> None:
    path = write(
        "wrangler.toml", 'workers_dev = true\n[[queues.consumers]]\nqueue = "q"\nmax_retires = 2\n'
    )
    with pytest.raises(ConfigError) as info, pytest.warns(ConfigWarning) as record:
        load_config(path, strict=True)
    assert str(info.value) == (
        f"{path}:4:1: queues.consumers[0].max_retires: unknown key, which wrangler does not "
        "know either; did you mean `max_retries`?"
    )
    # A key wrangler knows (that cfemu does not emulate) stays a warning, even strict.
    assert [str(w.message) for w in record] == [
        f"{path}:1:1: workers_dev: cfemu does not emulate this key yet and ignores it"
    ]


def test_strict_counts_the_other_unknown_keys(write: WriteFile) -> None:
    path = write("wrangler.toml", "naem = 1\nmian = 2\nzzz = 3\n")
    with pytest.raises(ConfigError, match=r"did you mean `name`\? \(and 2 more unknown key"):
        load_config(path, strict=True)


def test_key_paths_round_trip() -> None:
    for text in ("a", "a.b[0].c", 'vars["a.b"]', 'env["eu west"].vars.X', "x[3][4]"):
        loc = parse_key_path(text)
        from cfemu.config._errors import format_key_path

        assert format_key_path(loc) == text


# --- property: every key of any config is found on its own line -----------------------------
_KEY = st.sampled_from(["name", "a", "b-c", "a.b", "x y", "é", "q#", "k=v"])
_SCALAR = st.one_of(
    st.integers(-5, 5),
    st.booleans(),
    st.text(alphabet="ab\"'#[]{}=,\\\n\t", max_size=8),
)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEY, inner, max_size=3),
    max_leaves=8,
)
_DATA = st.dictionaries(
    _KEY,
    _VALUE | st.lists(st.dictionaries(_KEY, _VALUE, min_size=1, max_size=3), min_size=1),
    max_size=5,
)


def _key_locs(value: Any, loc: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*loc, key))
            found += _key_locs(item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _key_locs(item, (*loc, i))
    return found


@SETTINGS
@given(_DATA, st.sampled_from(["toml", "json", "jsonc"]))
def test_every_key_is_located_on_a_line_that_names_it(data: dict[str, Any], fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_config(Path(tmp), data, fmt)
        text = path.read_text(encoding="utf-8")
    source = SourceMap(text, "toml" if fmt == "toml" else "json")
    lines = text.split("\n")
    for loc in _key_locs(data):
        key = loc[-1]
        assert isinstance(key, str)
        where = source.position(loc)
        assert where is not None, loc
        spelled = toml_key(key) if fmt == "toml" else json.dumps(key, ensure_ascii=False)
        assert spelled in lines[where[0] - 1], (loc, where)


@SETTINGS
@given(st.text(max_size=60), st.sampled_from(["toml", "json"]))
def test_any_text_maps_without_error(text: str, fmt: str) -> None:
    source = SourceMap(text, fmt)
    for loc in source.offsets:
        line, column = source.position(loc) or (0, 0)
        assert 1 <= line <= text.count("\n") + 1 and column >= 1


def test_an_error_without_a_file_has_no_placeholder_prefix() -> None:
    # Friction 7: no "<config>:" in front of errors that concern no file (a --var flag).
    assert str(ConfigError("--var 'x' must look like KEY:VALUE")) == (
        "--var 'x' must look like KEY:VALUE"
    )
    assert str(ConfigError("is required", key_path="main")) == "main: is required"
