"""`.dev.vars` / `.env` local secrets (spec: workers-and-config.md §3.3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu.config import ConfigWarning, dev_vars_files, load_config, parse_dotenv
from cfemu.errors import ConfigError
from tests.config.conftest import WriteFile


def test_dotenv_syntax() -> None:
    text = (
        "# a comment\n"
        "\n"
        "PLAIN=value\n"
        "SPACED =  padded value  \n"
        "export EXPORTED=yes\n"
        'DOUBLE="a # not a comment"\n'
        "SINGLE='single \\n stays'\n"
        'ESCAPES="line1\\nline2\\rend"\n'
        'BACKTICK=`it\'s "fine"`\n'
        "EMPTY=\n"
        'EMPTY_QUOTED=""\n'
        "INLINE=abc # comment\n"
        "HASH=abc#def\n"
        "URL=http://x.example/a?b=c\n"
        "DOTTED.KEY-1=ok\n"
        "COLON: yaml style\n"
        '   INDENTED="quoted"   # trailing comment\n'
    )
    assert parse_dotenv(text) == {
        "PLAIN": "value",
        "SPACED": "padded value",
        "EXPORTED": "yes",
        "DOUBLE": "a # not a comment",
        "SINGLE": "single \\n stays",
        "ESCAPES": "line1\nline2\rend",
        "BACKTICK": 'it\'s "fine"',
        "EMPTY": "",
        "EMPTY_QUOTED": "",
        "INLINE": "abc",
        "HASH": "abc",
        "URL": "http://x.example/a?b=c",
        "DOTTED.KEY-1": "ok",
        "COLON": "yaml style",
        "INDENTED": "quoted",
    }


def test_quoted_values_span_lines_and_later_keys_win() -> None:
    text = 'KEY="-----BEGIN-----\nabc  \n-----END-----"\nNEXT=1\nNEXT=2\r\nCRLF=x\r\n'
    assert parse_dotenv(text) == {
        "KEY": "-----BEGIN-----\nabc  \n-----END-----",
        "NEXT": "2",
        "CRLF": "x",
    }


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("OK=1\nJUST_A_WORD\n", 2, "expected KEY=value, got 'JUST_A_WORD'"),
        ("OK=1\n\n=value\n", 3, "expected KEY=value"),
        ("KEY WITH SPACE=1\n", 1, "expected KEY=value"),
        ('A=1\nB="never closed\nC=3\n', 2, "unterminated quoted value for B"),
        ('A="x" trailing\n', 1, "unexpected text after the closing quote of A: 'trailing'"),
    ],
)
def test_bad_lines_are_config_errors_with_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_dotenv(text, file=tmp_path / ".dev.vars")
    assert info.value.line == line
    assert info.value.file == tmp_path / ".dev.vars"
    assert fragment in info.value.reason
    assert f".dev.vars:{line}" in str(info.value)


_KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_VALUES = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'), max_size=20
)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=6), st.booleans())
def test_double_quoted_values_round_trip(values: dict[str, str], export: bool) -> None:
    prefix = "export " if export else ""
    text = "".join(f'{prefix}{k}="{v}"\n# comment\n\n' for k, v in values.items())
    assert parse_dotenv(text) == values


def test_dev_vars_become_secrets_beside_the_config(write: WriteFile, tmp_path: Path) -> None:
    write(".dev.vars", 'API_KEY="s3cr3t"\nAPI_HOST=local.test\n')
    path = write("wrangler.toml", 'name = "a"\n[vars]\nAPI_HOST = "example.com"\n')
    config = load_config(path)
    assert config.secrets == {"API_KEY": "s3cr3t", "API_HOST": "local.test"}
    assert config.vars == {"API_HOST": "example.com"}  # the emulator layers secrets over vars
    assert config.secrets_files == [tmp_path / ".dev.vars"]


def test_a_dev_vars_file_from_another_folder_is_not_read(write: WriteFile) -> None:
    write(".dev.vars", "TOP=1\n")
    path = write("sub/wrangler.toml", 'name = "a"\n')
    assert load_config(path).secrets == {}


def test_env_specific_dev_vars_replaces_the_generic_file(write: WriteFile, tmp_path: Path) -> None:
    write(".dev.vars", "A=generic\nB=generic\n")
    write(".dev.vars.staging", "A=staging\n")
    assert dev_vars_files(tmp_path, "staging") == [tmp_path / ".dev.vars.staging"]
    assert dev_vars_files(tmp_path, "prod") == [tmp_path / ".dev.vars"]
    assert dev_vars_files(tmp_path) == [tmp_path / ".dev.vars"]
    path = write("wrangler.toml", "[env.staging]\n")
    assert load_config(path, environment="staging").secrets == {"A": "staging"}  # no B


def test_dot_env_files_are_the_fallback_and_merge(write: WriteFile, tmp_path: Path) -> None:
    write(".env", "A=env\nB=env\nC=env\nD=env\n")
    write(".env.local", "B=local\n")
    write(".env.staging", "C=staging\nD=staging\n")
    write(".env.staging.local", "D=staging-local\n")
    path = write("wrangler.toml", "[env.staging]\n")
    config = load_config(path, environment="staging")
    assert config.secrets == {"A": "env", "B": "local", "C": "staging", "D": "staging-local"}
    assert config.secrets_files == [
        tmp_path / n for n in (".env", ".env.local", ".env.staging", ".env.staging.local")
    ]
    assert load_config(path).secrets == {"A": "env", "B": "local", "C": "env", "D": "env"}


def test_dot_env_is_ignored_when_a_dev_vars_file_exists(write: WriteFile) -> None:
    write(".env", "FROM_ENV=1\n")
    write(".dev.vars", "FROM_DEV_VARS=1\n")
    path = write("wrangler.toml", "")
    assert load_config(path).secrets == {"FROM_DEV_VARS": "1"}


def test_dot_env_fallback_can_be_switched_off(
    write: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(".env", "FROM_ENV=1\n")
    path = write("wrangler.toml", "")
    assert load_config(path).secrets == {"FROM_ENV": "1"}
    monkeypatch.setenv("CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV", "false")
    assert load_config(path).secrets == {}


def test_a_bad_dev_vars_line_fails_loading_with_file_and_line(
    write: WriteFile, tmp_path: Path
) -> None:
    write(".dev.vars", "GOOD=1\noops\n")
    path = write("wrangler.toml", "")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.file, info.value.line) == (tmp_path / ".dev.vars", 2)


def test_required_secrets_filter_and_warn(write: WriteFile) -> None:
    write(".dev.vars", "API_KEY=k\nUNRELATED=u\nHOST=h\n")
    path = write(
        "wrangler.toml",
        '[vars]\nHOST = "example.com"\n[secrets]\nrequired = ["API_KEY", "DB_PASSWORD"]\n',
    )
    with pytest.warns(ConfigWarning, match="Missing required secrets: DB_PASSWORD"):
        config = load_config(path)
    assert config.secrets == {"API_KEY": "k", "HOST": "h"}
    assert config.required_secrets == ["API_KEY", "DB_PASSWORD"]
