"""[env.NAME] sections: Cloudflare's inheritance rules (spec: workers-and-config.md §3.2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu.config import ConfigWarning, load_config
from tests.config.conftest import LoadError, LoadText, WriteFile

BASE = """
name = "app"
main = "src/entry.py"
compatibility_date = "2026-08-01"
compatibility_flags = ["python_workers"]

[vars]
API_HOST = "example.com"

[[d1_databases]]
binding = "DB"
database_name = "app-db"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[[queues.consumers]]
queue = "jobs"

[ai]
binding = "AI"

[triggers]
crons = ["*/5 * * * *"]

[dev]
port = 9000
"""

FULL_ENV = """
[env.staging]
vars = { API_HOST = "staging.example.com" }
d1_databases = [{ binding = "DB", database_name = "app-db-staging" }]
ai = { binding = "AI" }
[env.staging.queues]
producers = [{ binding = "JOBS", queue = "jobs-staging" }]
consumers = [{ queue = "jobs-staging", max_batch_size = 50 }]
"""


def test_without_environment_the_top_level_is_used(load: LoadText) -> None:
    config = load(BASE + FULL_ENV)
    assert config.environment is None
    assert config.name == "app"
    assert config.vars == {"API_HOST": "example.com"}
    assert config.queues.producers[0].queue == "jobs"


def test_inheritable_keys_are_copied_and_name_gets_the_env_suffix(load: LoadText) -> None:
    config = load(BASE + FULL_ENV, environment="staging")
    assert config.environment == "staging"
    assert config.name == "app-staging"
    assert config.main == "src/entry.py"
    assert config.compatibility_date == "2026-08-01"
    assert config.compatibility_flags == ["python_workers"]
    assert config.triggers.crons == ["*/5 * * * *"]
    assert config.dev.port == 9000  # top-level only: always the top level's


def test_environment_bindings_replace_the_top_levels(load: LoadText) -> None:
    config = load(BASE + FULL_ENV, environment="staging")
    assert config.vars == {"API_HOST": "staging.example.com"}
    assert [d.database_name for d in config.d1_databases] == ["app-db-staging"]
    assert [p.queue for p in config.queues.producers] == ["jobs-staging"]
    assert [(c.queue, c.max_batch_size) for c in config.queues.consumers] == [("jobs-staging", 50)]
    assert config.ai is not None and config.ai.binding == "AI"


def test_inheritable_keys_can_be_overridden(load: LoadText) -> None:
    overrides = (
        'name = "custom"\nmain = "src/staging.py"\ncompatibility_date = "2026-09-01"\n'
        "compatibility_flags = []\ntriggers = { crons = [] }\n"
    )
    config = load(
        BASE + FULL_ENV.replace("[env.staging]\n", "[env.staging]\n" + overrides),
        environment="staging",
    )
    assert config.name == "custom"  # an env's own name is used as is, no suffix
    assert config.main == "src/staging.py"
    assert config.main_path is not None and config.main_path.name == "staging.py"
    assert config.compatibility_date == "2026-09-01"
    assert config.compatibility_flags == []
    assert config.triggers.crons == []


def test_non_inheritable_keys_are_not_inherited_and_wrangler_warns(write: WriteFile) -> None:
    path = write("wrangler.toml", BASE + "\n[env.bare]\n")
    with pytest.warns(ConfigWarning) as record:
        config = load_config(path, environment="bare")
    assert config.vars == {}
    assert config.d1_databases == []
    assert config.queues.producers == [] and config.queues.consumers == []
    assert config.ai is None
    assert config.name == "app-bare"
    found = [w.message for w in record]
    assert all(isinstance(w, ConfigWarning) for w in found)
    messages = [w.reason for w in found if isinstance(w, ConfigWarning)]
    for field in ("vars", "d1_databases", "queues", "ai"):
        assert (
            f'"{field}" exists at the top level, but not on "env.bare". This is not what you '
            f'probably want, since "{field}" is not inherited by environments. Please add '
            f'"{field}" to "env.bare".'
        ) in messages
    # Each is placed at the [env.bare] header, the last line of the file.
    line = len(path.read_text().rstrip("\n").splitlines())
    assert {str(w) for w in found} == {f"{path}:{line}:1: env.bare: {m}" for m in messages}
    assert config.warnings == [str(w) for w in found]


def test_no_warning_when_the_environment_declares_every_binding(load: LoadText) -> None:
    # `load` turns any ConfigWarning into an error.
    config = load(BASE + FULL_ENV, environment="staging")
    assert config.warnings == []


def test_environment_without_any_name_gets_the_default_name(load: LoadText) -> None:
    config = load('[env.dev]\nmain = "w.py"\n', environment="dev")
    assert config.name == "worker" and config.main == "w.py"


def test_top_level_only_keys_in_an_environment_are_ignored_with_a_warning(
    write: WriteFile,
) -> None:
    path = write("wrangler.toml", "[dev]\nport = 1234\n[env.x]\ndev = { port = 1 }\n")
    with pytest.warns(ConfigWarning, match=r'"env\.x\.dev" is ignored'):
        config = load_config(path, environment="x")
    assert config.dev.port == 1234


def test_unknown_environment_lists_the_defined_ones(load_error: LoadError) -> None:
    err = load_error(BASE + FULL_ENV + "[env.production]\n", environment="prod")
    assert err.key_path == "env.prod"
    assert err.reason == (
        'environment "prod" is not defined; defined environments: "production", "staging"'
    )


def test_unknown_environment_when_none_are_defined(load_error: LoadError) -> None:
    err = load_error(BASE, environment="staging")
    assert err.reason == 'environment "staging" is not defined; defined environments: none'


def test_empty_environment_name_means_top_level(load: LoadText) -> None:
    assert load('name = "a"', environment="").environment is None


@pytest.mark.parametrize(
    ("text", "key_path"),
    [("env = 3", "env"), ("env = { staging = 3 }", "env.staging")],
)
def test_environment_sections_must_be_tables(
    load_error: LoadError, text: str, key_path: str
) -> None:
    err = load_error(text, environment="staging")
    assert err.key_path == key_path
    assert err.reason == "must be a table (a JSON object), got 3"


def test_errors_inside_an_environment_are_prefixed_with_env_name(load_error: LoadError) -> None:
    err = load_error(
        BASE + '[env.staging]\nqueues = { consumers = [{ queue = "q", max_batch_size = 500 }] }\n',
        environment="staging",
    )
    assert err.key_path == "env.staging.queues.consumers[0].max_batch_size"
    assert err.reason == "must be between 1 and 100, got 500"


def test_errors_in_inherited_keys_keep_their_top_level_path(load_error: LoadError) -> None:
    err = load_error('compatibility_date = "2024-1-1"\n[env.staging]\n', environment="staging")
    assert err.key_path == "compatibility_date"


def test_an_invalid_top_level_fails_even_when_an_environment_is_selected(
    load_error: LoadError,
) -> None:
    err = load_error(
        '[[queues.consumers]]\nqueue = "q"\nmax_retries = 500\n[env.staging]\n',
        environment="staging",
    )
    assert err.key_path == "queues.consumers[0].max_retries"


def test_other_environments_are_not_validated(load: LoadText) -> None:
    config = load(
        'name = "a"\n[env.good]\n[env.broken]\nqueues = { consumers = 5 }\n', environment="good"
    )
    assert config.name == "a-good"


def test_cross_field_errors_in_an_environment_are_prefixed(load_error: LoadError) -> None:
    err = load_error(
        '[env.s.queues]\nconsumers = [{ queue = "q", dead_letter_queue = "q" }]\n',
        environment="s",
    )
    assert err.key_path == "env.s.queues.consumers[0].dead_letter_queue"
    assert err.reason == 'Dead letter queue for queue "q" cannot be itself'


def test_environment_secrets_use_their_own_dev_vars_file(write: WriteFile, tmp_path: Path) -> None:
    write(".dev.vars", "TOKEN=top\n")
    write(".dev.vars.staging", "TOKEN=staging\n")
    path = write("wrangler.toml", 'name = "a"\n[env.staging]\n[env.other]\n')
    assert load_config(path).secrets == {"TOKEN": "top"}
    assert load_config(path, environment="staging").secrets == {"TOKEN": "staging"}
    assert load_config(path, environment="other").secrets == {"TOKEN": "top"}
    assert load_config(path, environment="staging").secrets_files == [
        tmp_path / ".dev.vars.staging"
    ]


def test_unemulated_inheritable_keys_are_inherited_and_reported_once(write: WriteFile) -> None:
    path = write("wrangler.toml", 'workers_dev = true\n[env.s]\nroutes = ["a/*"]\n')
    with pytest.warns(ConfigWarning) as record:
        config = load_config(path, environment="s")
    assert [str(w.message) for w in record] == [
        f"{path}:1:1: workers_dev: cfemu does not emulate this key yet and ignores it",
        f"{path}:3:1: env.s.routes: cfemu does not emulate this key yet and ignores it",
    ]
    assert config.raw["workers_dev"] is True
    assert config.unknown_keys == ["workers_dev", "env.s.routes"]


def test_environment_names_that_are_not_identifiers_are_quoted_in_key_paths(
    load_error: LoadError,
) -> None:
    err = load_error('[env."eu.west"]\nmain = 5\n', environment="eu.west")
    assert err.key_path == 'env["eu.west"].main'


def test_main_path_is_normalised_against_the_config_folder(load: LoadText, tmp_path: Path) -> None:
    config = load('main = "./src/../src/entry.py"')
    assert config.main_path == tmp_path / "src" / "entry.py"
