"""TOML, JSON and JSONC: same schema, same models; syntax errors name line and column."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu.config import load_config
from cfemu.config._parse import JsoncSyntaxError, strip_jsonc
from tests.config.conftest import LoadError, LoadText, WriteFile

TOML = """
name = "app"
main = "src/entry.py"
compatibility_date = "2026-08-01"
compatibility_flags = ["python_workers"]
[vars]
URL = "http://example.com/a//b"
NOTE = "/* not a comment */"
[[d1_databases]]
binding = "DB"
database_name = "app-db"
[[queues.producers]]
binding = "JOBS"
queue = "jobs"
[[queues.consumers]]
queue = "jobs"
max_batch_size = 20
dead_letter_queue = "jobs-dlq"
[ai]
binding = "AI"
[triggers]
crons = ["*/5 * * * *"]
[env.staging]
vars = { URL = "http://staging" }
"""

JSONC = """// wrangler.jsonc
{
  "$schema": "node_modules/wrangler/config-schema.json",
  "name": "app", // the Worker
  "main": "src/entry.py",
  /* dates: "yyyy-mm-dd" */
  "compatibility_date": "2026-08-01",
  "compatibility_flags": ["python_workers",],
  "vars": {
    "URL": "http://example.com/a//b",
    "NOTE": "/* not a comment */",
  },
  "d1_databases": [{ "binding": "DB", "database_name": "app-db" },],
  "queues": {
    "producers": [{ "binding": "JOBS", "queue": "jobs" }],
    "consumers": [
      {
        "queue": "jobs",
        "max_batch_size": 20, // up to 100
        "dead_letter_queue": "jobs-dlq", /* trailing comma, then a comment */
      },
    ],
  },
  "ai": { "binding": "AI" },
  "triggers": { "crons": ["*/5 * * * *"] },
  "env": { "staging": { "vars": { "URL": "http://staging" } } },
}
"""


def _without_path(config: object) -> dict[str, object]:
    dump: dict[str, object] = config.model_dump(exclude={"path", "raw"})  # type: ignore[attr-defined]
    # Each warning names its file:line:col, which differ by format; the rest must agree.
    dump["warnings"] = [re.sub(r"^.*?:\d+:\d+: ", "", w) for w in dump["warnings"]]  # type: ignore[attr-defined]
    return dump


@pytest.mark.filterwarnings("ignore::cfemu.config.ConfigWarning")
@pytest.mark.parametrize("environment", [None, "staging"])
def test_toml_json_and_jsonc_load_to_the_same_model(
    write: WriteFile, environment: str | None
) -> None:
    toml = load_config(write("wrangler.toml", TOML), environment=environment)
    jsonc = load_config(write("wrangler.jsonc", JSONC), environment=environment)
    plain = json.loads(strip_jsonc(JSONC))
    as_json = load_config(write("wrangler.json", json.dumps(plain)), environment=environment)
    assert _without_path(toml) == _without_path(jsonc) == _without_path(as_json)
    if environment is None:
        assert toml.name == "app"
        assert toml.vars == {"URL": "http://example.com/a//b", "NOTE": "/* not a comment */"}
        assert toml.queues.consumers[0].max_batch_size == 20
        assert toml.warnings == []
    else:
        assert toml.name == "app-staging"
        assert toml.vars == {"URL": "http://staging"}
        assert toml.queues.consumers == []
        assert toml.warnings != []


def test_json_files_accept_comments_too(load: LoadText) -> None:
    # wrangler reads wrangler.json with its JSONC parser.
    assert load('{"name": "a", // c\n}', "wrangler.json").name == "a"


def test_byte_order_mark_is_ignored(load: LoadText) -> None:
    assert load('\ufeffname = "a"').name == "a"
    assert load('\ufeff{"name": "b"}', "wrangler.jsonc").name == "b"


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ('name = "a"\nmain = \n', 2, 8, "invalid TOML: Invalid value"),
        ('name = "a"\n[vars]\nX = "unterminated\n', 3, 18, "invalid TOML: "),
        ("[a]\nb = 1\n[a]\n", 3, 3, "invalid TOML: Cannot declare"),
        ('name = "a"\nname = "b"\n', 2, 11, "invalid TOML: Cannot overwrite a value"),
        ('name = "a"\nx = [1,', 2, 8, "invalid TOML: Invalid value (at end of file)"),
    ],
)
def test_toml_syntax_errors_name_line_and_column(
    load_error: LoadError, tmp_path: Path, text: str, line: int, column: int, fragment: str
) -> None:
    err = load_error(text)
    assert (err.line, err.column) == (line, column), str(err)
    assert fragment in err.reason
    assert str(err).startswith(f"{tmp_path / 'wrangler.toml'}:{line}:{column}: invalid TOML")
    assert err.key_path is None


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ('{\n  "name": "a"\n  "main": "b"\n}', 3, 3, "invalid JSON: Expecting ',' delimiter"),
        ('{\n  "a": 1,\n  /* never closed\n}', 3, 3, "invalid JSON: unterminated /* comment"),
        ('{\n  "a": "no end\n}', 2, 8, "invalid JSON: unterminated string"),
        ('{\n  name: "a"\n}', 2, 3, "invalid JSON: unexpected word 'name'"),
        ('{"a": NaN}', 1, 7, "invalid JSON: unexpected word 'NaN'"),
        ('{"a": 1,,}', 1, 9, "invalid JSON: Expecting property name"),
        # A comma with no value before it is not a trailing comma: jsonc rejects these.
        ('{"vars": {"A": [,]}}', 1, 17, "invalid JSON: Expecting value"),
        ('{\n  "a": [1],\n  "b": { /* c */ , }\n}', 3, 18, "invalid JSON: Expecting property"),
        ("{,}", 1, 2, "invalid JSON: Expecting property name"),
        ("[1, 2]", 1, 1, "the configuration must be an object at the top level, got list"),
        ("", 1, 1, "invalid JSON: Expecting value"),
        ('{"a": 1}\n// ok\n{}', 3, 1, "invalid JSON: Extra data"),
    ],
)
def test_json_syntax_errors_name_line_and_column(
    load_error: LoadError, text: str, line: int, column: int, fragment: str
) -> None:
    err = load_error(text, "wrangler.jsonc")
    assert (err.line, err.column) == (line, column), str(err)
    assert fragment in err.reason, err.reason


def test_invalid_utf8_is_a_config_error(write: WriteFile, tmp_path: Path) -> None:
    path = tmp_path / "wrangler.toml"
    path.write_bytes(b'name = "a"\nmain = "\xff"\n')
    with pytest.raises(Exception) as info:
        load_config(path)
    assert type(info.value).__name__ == "ConfigError"
    assert "not valid UTF-8" in str(info.value)
    assert getattr(info.value, "line", None) == 2


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    from cfemu.errors import ConfigError

    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "wrangler.toml")
    (tmp_path / "wrangler.yaml").write_text("name: a")
    with pytest.raises(ConfigError, match="unsupported config file type"):
        load_config(tmp_path / "wrangler.yaml")


def test_strip_jsonc_keeps_strings_and_offsets() -> None:
    text = '{"u": "http://x//y", /* c */ "v": [1, 2,], // end\n "w": "a\\"//b",}'
    plain = strip_jsonc(text)
    assert len(plain) == len(text)
    assert json.loads(plain) == {"u": "http://x//y", "v": [1, 2], "w": 'a"//b'}


def test_strip_jsonc_reports_offsets() -> None:
    with pytest.raises(JsoncSyntaxError) as info:
        strip_jsonc('{"a": 1 /* open')
    assert info.value.offset == 8


_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.characters(blacklist_categories=("Cs",))),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=15,
)


@settings(max_examples=100, deadline=None)
@given(_JSON, st.lists(st.sampled_from(["// c\n", "/* c */", " ", "\n"]), max_size=6))
def test_jsonc_with_comments_and_trailing_commas_parses_like_json(
    value: object, comments: list[str]
) -> None:
    text = json.dumps(value, indent=1)
    # Put a comment after every structural newline and a trailing comma before every close.
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if nxt[:1] in ("}", "]") and not line.rstrip().endswith(("{", "[")):
            line += ","
        out.append(line + (" " + comments[i % len(comments)] if comments else ""))
    jsonc = "\n".join(out)
    if jsonc.rstrip().endswith("// c"):
        jsonc += "\n"
    plain = strip_jsonc(jsonc)
    assert len(plain) == len(jsonc)
    assert json.loads(plain) == value


def test_absurdly_deep_nesting_is_a_config_error(load_error: LoadError) -> None:
    depth = 5000
    err = load_error('{"vars": {"X": ' + "[" * depth + "]" * depth + "}}", "wrangler.json")
    assert "nest" in err.reason or "recursion" in err.reason.lower()
