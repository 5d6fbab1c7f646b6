"""Every supported key: its value, its default, its range and the message when it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu import limits
from cfemu.config import ConfigWarning, load_config
from tests.config.conftest import LoadError, LoadText, WriteFile

FULL = """
name = "app"
main = "src/entry.py"
compatibility_date = "2026-08-01"
compatibility_flags = ["python_workers"]

[vars]
API_HOST = "example.com"
LIMITS = { max = 3, tags = ["a", "b"], nested = { on = true } }
RATIO = 0.5

[[d1_databases]]
binding = "DB"
database_name = "app-db"
database_id = "00000000-0000-0000-0000-000000000000"
preview_database_id = "preview-id"
migrations_dir = "db/migrations"
migrations_table = "schema_migrations"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"
delivery_delay = 30

[[queues.consumers]]
queue = "jobs"
type = "worker"
max_batch_size = 25
max_batch_timeout = 2.5
max_retries = 7
dead_letter_queue = "jobs-dlq"
max_concurrency = 4
retry_delay = 60
visibility_timeout_ms = 30000

[ai]
binding = "AI"

[triggers]
crons = ["*/5 * * * *", "0 0 * * MON"]

[dev]
ip = "0.0.0.0"
port = 9000
"""


def test_every_supported_key_is_read(load: LoadText, tmp_path: Path) -> None:
    config = load(FULL)
    assert config.path == tmp_path / "wrangler.toml"
    assert config.base_dir == tmp_path
    assert config.environment is None
    assert config.name == "app"
    assert config.main == "src/entry.py"
    assert config.main_path == tmp_path / "src" / "entry.py"
    assert config.compatibility_date == "2026-08-01"
    assert config.compatibility_flags == ["python_workers"]
    assert config.vars == {
        "API_HOST": "example.com",
        "LIMITS": {"max": 3, "tags": ["a", "b"], "nested": {"on": True}},
        "RATIO": 0.5,
    }
    (db,) = config.d1_databases
    assert db.binding == "DB"
    assert db.database_name == "app-db"
    assert db.database_id == "00000000-0000-0000-0000-000000000000"
    assert db.preview_database_id == "preview-id"
    assert db.migrations_dir == "db/migrations"
    assert db.migrations_table == "schema_migrations"
    assert db.migrations_path(config.base_dir) == tmp_path / "db" / "migrations"
    (producer,) = config.queues.producers
    assert (producer.binding, producer.queue, producer.delivery_delay) == ("JOBS", "jobs", 30)
    (consumer,) = config.queues.consumers
    assert consumer.queue == "jobs"
    assert consumer.type == "worker"
    assert consumer.max_batch_size == 25
    assert consumer.max_batch_timeout == 2.5
    assert consumer.max_retries == 7
    assert consumer.dead_letter_queue == "jobs-dlq"
    assert consumer.max_concurrency == 4
    assert consumer.retry_delay == 60
    assert consumer.visibility_timeout_ms == 30000
    assert config.ai is not None and config.ai.binding == "AI"
    assert config.triggers.crons == ["*/5 * * * *", "0 0 * * MON"]
    assert (config.dev.ip, config.dev.port) == ("0.0.0.0", 9000)
    assert config.unknown_keys == []
    assert config.warnings == []
    assert config.binding_names() == ["API_HOST", "LIMITS", "RATIO", "DB", "JOBS", "AI"]


def test_defaults_are_productions(load: LoadText) -> None:
    config = load(
        """
        [[d1_databases]]
        binding = "DB"
        [[queues.producers]]
        binding = "Q"
        queue = "q"
        [[queues.consumers]]
        queue = "q"
        """
    )
    assert config.name == "worker"  # wrangler runs unnamed Workers; cfemu needs a name
    assert config.main is None and config.main_path is None
    assert config.compatibility_date is None and config.compatibility_flags == []
    assert config.vars == {} and config.secrets == {} and config.ai is None
    assert config.triggers.crons == []
    assert (config.dev.ip, config.dev.port) == (limits.DEFAULT_DEV_IP, limits.DEFAULT_DEV_PORT)
    (db,) = config.d1_databases
    assert (db.migrations_dir, db.migrations_table) == ("migrations", "d1_migrations")
    assert db.database_name is None and db.database_id is None
    assert config.queues.producers[0].delivery_delay == 0
    c = config.queues.consumers[0]
    assert (c.max_batch_size, c.max_batch_timeout, c.max_retries) == (10, 5.0, 3)
    assert (c.dead_letter_queue, c.max_concurrency, c.retry_delay) == (None, None, 0)
    assert c.type == "worker" and c.visibility_timeout_ms is None


def test_empty_file_is_a_worker_with_defaults(load: LoadText) -> None:
    config = load("")
    assert config.name == "worker" and config.queues.consumers == [] and config.d1_databases == []


@pytest.mark.parametrize(
    ("database_id", "database_name", "expected"),
    [("id-1", "name-1", "id-1"), (None, "name-1", "name-1"), (None, None, "DB")],
)
def test_d1_storage_key_prefers_id_then_name_then_binding(
    load: LoadText, database_id: str | None, database_name: str | None, expected: str
) -> None:
    lines = ['binding = "DB"']
    if database_id:
        lines.append(f'database_id = "{database_id}"')
    if database_name:
        lines.append(f'database_name = "{database_name}"')
    config = load("[[d1_databases]]\n" + "\n".join(lines))
    assert config.d1_databases[0].storage_key == expected


# --- ranges: each bound accepted, one past it rejected with the range in the message ------
RANGES = [
    ("max_batch_size", 1, 100),
    ("max_batch_timeout", 0, 60),
    ("max_retries", 0, 100),
    ("max_concurrency", 1, 250),
    ("retry_delay", 0, 43200),
    ("visibility_timeout_ms", 0, 43_200_000),
]


@pytest.mark.parametrize(("key", "lo", "hi"), RANGES)
def test_consumer_ranges_accept_bounds_and_reject_outside(
    load: LoadText, load_error: LoadError, key: str, lo: int, hi: int
) -> None:
    for ok in (lo, hi):
        config = load(f'[[queues.consumers]]\nqueue = "q"\n{key} = {ok}')
        assert getattr(config.queues.consumers[0], key) == ok
    for bad in (lo - 1, hi + 1):
        err = load_error(f'[[queues.consumers]]\nqueue = "q"\n{key} = {bad}')
        assert err.key_path == f"queues.consumers[0].{key}"
        assert err.reason == f"must be between {lo} and {hi}, got {bad}"


def test_batch_size_500_message_names_file_key_path_and_range(
    load_error: LoadError, tmp_path: Path
) -> None:
    err = load_error('[[queues.consumers]]\nqueue = "q"\nmax_batch_size = 500\n')
    assert str(err) == (
        f"{tmp_path / 'wrangler.toml'}:3:1: queues.consumers[0].max_batch_size: "
        "must be between 1 and 100, got 500"
    )
    assert (err.line, err.column) == (3, 1)
    assert err.file == tmp_path / "wrangler.toml"
    assert err.code == "CONFIG_ERROR"


def test_delivery_delay_range(load: LoadText, load_error: LoadError) -> None:
    assert load('[[queues.producers]]\nbinding="Q"\nqueue="q"\ndelivery_delay=43200')
    err = load_error('[[queues.producers]]\nbinding="Q"\nqueue="q"\ndelivery_delay=43201')
    assert err.key_path == "queues.producers[0].delivery_delay"
    assert err.reason == "must be between 0 and 43200, got 43201"


def test_dev_port_range(load_error: LoadError) -> None:
    err = load_error("[dev]\nport = 70000")
    assert (err.key_path, err.reason) == ("dev.port", "must be between 0 and 65535, got 70000")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('"ten"', 'must be an integer, got "ten"'),
        ("2.5", "must be an integer, got 2.5"),
        ("true", "must be an integer, got true"),
        ("[10]", "must be an integer, got [10]"),
    ],
)
def test_integer_keys_reject_other_types(load_error: LoadError, value: str, reason: str) -> None:
    err = load_error(f'[[queues.consumers]]\nqueue = "q"\nmax_batch_size = {value}')
    assert (err.key_path, err.reason) == ("queues.consumers[0].max_batch_size", reason)


def test_whole_floats_are_integers_as_in_javascript(load: LoadText) -> None:
    config = load(
        '{"queues": {"consumers": [{"queue": "q", "max_retries": 5.0}]}}', "wrangler.json"
    )
    assert config.queues.consumers[0].max_retries == 5
    assert isinstance(config.queues.consumers[0].max_retries, int)


def test_batch_timeout_takes_ints_and_floats_but_not_strings(
    load: LoadText, load_error: LoadError
) -> None:
    assert (
        load('[[queues.consumers]]\nqueue="q"\nmax_batch_timeout=1')
        .queues.consumers[0]
        .max_batch_timeout
        == 1.0
    )
    err = load_error('[[queues.consumers]]\nqueue="q"\nmax_batch_timeout="5"')
    assert err.reason == 'must be a number, got "5"'
    err = load_error('[[queues.consumers]]\nqueue="q"\nmax_batch_timeout=nan')
    assert err.reason == "must be between 0 and 60, got nan"


def test_max_concurrency_null_in_json_means_unset(load: LoadText) -> None:
    config = load(
        '{"queues": {"consumers": [{"queue": "q", "max_concurrency": null}]}}', "wrangler.json"
    )
    assert config.queues.consumers[0].max_concurrency is None


@pytest.mark.parametrize(
    ("text", "key_path", "reason"),
    [
        ("name = 5", "name", "must be a string, got 5"),
        ('main = ["a"]', "main", 'must be a string, got ["a"]'),
        (
            'compatibility_flags = "python_workers"',
            "compatibility_flags",
            'must be an array, got "python_workers"',
        ),
        ("compatibility_flags = [1]", "compatibility_flags[0]", "must be a string, got 1"),
        ('vars = "x"', "vars", 'must be a table (a JSON object), got "x"'),
        ('ai = "AI"', "ai", 'must be a table (a JSON object), got "AI"'),
        ("[ai]\nstaging = false", "ai.binding", "is required"),
        ('[ai]\nbinding = ""', "ai.binding", "must not be empty"),
        ("[[d1_databases]]\ndatabase_name = 'x'", "d1_databases[0].binding", "is required"),
        ("[[d1_databases]]\nbinding = 1", "d1_databases[0].binding", "must be a string, got 1"),
        ('[[queues.producers]]\nbinding = "Q"', "queues.producers[0].queue", "is required"),
        ("[[queues.consumers]]\nmax_retries = 1", "queues.consumers[0].queue", "is required"),
        (
            'triggers = { crons = "* * * * *" }',
            "triggers.crons",
            'must be an array, got "* * * * *"',
        ),
        ('[dev]\nport = "8787"', "dev.port", 'must be an integer, got "8787"'),
        ("[dev]\nip = 127", "dev.ip", "must be a string, got 127"),
        ('[secrets]\nrequired = "A"', "secrets.required", 'must be an array, got "A"'),
    ],
)
def test_wrong_types_name_the_key_path(
    load_error: LoadError, text: str, key_path: str, reason: str
) -> None:
    err = load_error(text)
    assert (err.key_path, err.reason) == (key_path, reason)


@pytest.mark.parametrize("name", ["app", "my-worker", "worker_2", "0x"])
def test_valid_worker_names(load: LoadText, name: str) -> None:
    assert load(f'name = "{name}"').name == name


@pytest.mark.parametrize("name", ["MyApp", "my app", "app.dev", "-app", "app!"])
def test_invalid_worker_names(load_error: LoadError, name: str) -> None:
    err = load_error(f'name = "{name}"')
    assert err.key_path == "name"
    assert err.reason == (f'must contain only lowercase letters, digits, "_" and "-", got "{name}"')


def test_empty_name_is_no_name_as_in_wrangler_so_the_default(load: LoadText) -> None:
    assert load('name = ""').name == "worker"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('"2024/01/01"', 'must be a date in yyyy-mm-dd form, got "2024/01/01"'),
        ('"2024-1-1"', 'must be a date in yyyy-mm-dd form, got "2024-1-1"'),
        ('"2023-02-29"', 'must be a real calendar date, got "2023-02-29"'),
        (
            "2024-01-01",
            'must be a string like "2024-09-23", got the TOML date 2024-01-01 (quote it)',
        ),
        ("20240101", "must be a string, got 20240101"),
    ],
)
def test_compatibility_date_must_be_a_quoted_real_date(
    load_error: LoadError, value: str, reason: str
) -> None:
    err = load_error(f"compatibility_date = {value}")
    assert (err.key_path, err.reason) == ("compatibility_date", reason)


def test_leap_day_is_a_valid_compatibility_date(load: LoadText) -> None:
    assert load('compatibility_date = "2024-02-29"').compatibility_date == "2024-02-29"


@pytest.mark.parametrize("value", ['"http_pull"', '"Worker"', "1"])
def test_only_worker_consumers_are_accepted(load_error: LoadError, value: str) -> None:
    err = load_error(f'[[queues.consumers]]\nqueue = "q"\ntype = {value}')
    assert err.key_path == "queues.consumers[0].type"
    assert err.reason.endswith(
        'Only "worker" consumers can be configured in your Wrangler configuration.'
    )
    assert "has an invalid value" in err.reason


def test_vars_keep_strings_and_json_values_from_json(load: LoadText) -> None:
    config = load(
        '{"vars": {"S": "s", "N": 1, "F": 1.5, "B": false, "Z": null, "L": [1, "x"], '
        '"O": {"k": {"deep": [null]}}}}',
        "wrangler.json",
    )
    assert config.vars == {
        "S": "s",
        "N": 1,
        "F": 1.5,
        "B": False,
        "Z": None,
        "L": [1, "x"],
        "O": {"k": {"deep": [None]}},
    }


@pytest.mark.parametrize(
    ("text", "key_path", "reason"),
    [
        (
            "[vars]\nWHEN = 1979-05-27T07:32:00Z",
            "vars.WHEN",
            "must be a string or a JSON value, got the TOML date-time 1979-05-27T07:32:00+00:00",
        ),
        (
            "[vars]\nX = { at = [1, 07:32:00] }",
            "vars.X.at[1]",
            "must be a string or a JSON value, got the TOML time 07:32:00",
        ),
        ("[vars]\nBIG = inf", "vars.BIG", "must be a finite number, got inf"),
        ('[vars]\n"a.b" = nan', 'vars["a.b"]', "must be a finite number, got nan"),
    ],
)
def test_vars_reject_values_json_cannot_carry(
    load_error: LoadError, text: str, key_path: str, reason: str
) -> None:
    err = load_error(text)
    assert (err.key_path, err.reason) == (key_path, reason)


def test_several_problems_report_the_first_and_name_the_others(load_error: LoadError) -> None:
    err = load_error(
        '[[queues.consumers]]\nqueue = "q"\nmax_batch_size = 0\nmax_retries = -1\n'
        "retry_delay = -2\nmax_concurrency = 0\nvisibility_timeout_ms = -1\n"
    )
    assert err.key_path == "queues.consumers[0].max_batch_size"
    assert err.reason.startswith("must be between 1 and 100, got 0 (also: ")
    assert "queues.consumers[0].max_retries: must be between 0 and 100, got -1" in err.reason
    assert err.reason.endswith("; and 1 more)")


# --- unknown keys: kept, reported once ---------------------------------------------------
def test_keys_cfemu_does_not_emulate_are_kept_and_warned_once(write: WriteFile) -> None:
    path = write(
        "wrangler.toml",
        """
        name = "app"
        workers_dev = true
        naem = "typo"
        [[r2_buckets]]
        binding = "KV"
        bucket_name = "abc"
        [ai]
        binding = "AI"
        staging = true
        [[d1_databases]]
        binding = "DB"
        database_internal_env = "x"
        [dev]
        inspector_port = 9230
        [[queues.consumers]]
        queue = "q"
        surprise = 1
        """,
    )
    with pytest.warns(ConfigWarning) as record:
        config = load_config(path)
    assert config.unknown_keys == [
        "workers_dev",
        "naem",
        "r2_buckets",
        "d1_databases[0].database_internal_env",
        "queues.consumers[0].surprise",
        "ai.staging",
        "dev.inspector_port",
    ]
    emulated = "cfemu does not emulate this key yet and ignores it"
    unknown = "unknown key, which wrangler does not know either"
    # One warning per key, at the key's own line of the file (the text is dedented).
    assert [str(w.message) for w in record] == [
        f"{path}:3:1: workers_dev: {emulated}",
        f"{path}:4:1: naem: {unknown}; did you mean `name`?",
        f"{path}:5:1: r2_buckets: {emulated}",
        f"{path}:13:1: d1_databases[0].database_internal_env: {emulated}",
        f"{path}:18:1: queues.consumers[0].surprise: {unknown}",
        f"{path}:10:1: ai.staging: {emulated}",
        f"{path}:15:1: dev.inspector_port: {emulated}",
    ]
    assert config.warnings == [str(w.message) for w in record]
    assert config.raw["r2_buckets"] == [{"binding": "KV", "bucket_name": "abc"}]
    assert config.ai is not None and config.ai.model_extra == {"staging": True}


def test_json_schema_key_is_ignored_silently(load: LoadText) -> None:
    config = load(
        '{"$schema": "node_modules/wrangler/config-schema.json", "name": "a"}', "wrangler.jsonc"
    )
    assert config.name == "a" and config.unknown_keys == []


@pytest.mark.parametrize(
    ("key", "value"), [("name", "app\\n"), ("compatibility_date", "2024-01-01\\n")]
)
def test_a_trailing_newline_is_not_accepted(load_error: LoadError, key: str, value: str) -> None:
    assert load_error(f'{key} = "{value}"').key_path == key


@pytest.mark.parametrize(
    ("crons", "index", "fragment"),
    [
        ('["*/5 * * * *", "61 * * * *"]', 1, "minute '61' in cron '61 * * * *' must be within"),
        ('["* * * *"]', 0, "must have 5 fields"),
        ('["0 0 30 2 *"]', 0, "never fires"),
        ('["0 0 * * 1#2"]', 0, "not supported"),
    ],
)
def test_bad_cron_is_an_error_at_load_naming_its_index(
    load_error: LoadError, crons: str, index: int, fragment: str
) -> None:
    err = load_error(f"[triggers]\ncrons = {crons}\n")
    assert err.key_path == f"triggers.crons[{index}]"
    assert fragment in err.reason


def test_bad_inherited_cron_is_reported_at_the_top_level(load_error: LoadError) -> None:
    err = load_error('[triggers]\ncrons = ["x * * * *"]\n[env.s]\n', environment="s")
    assert err.key_path == "triggers.crons[0]"
    err = load_error('[env.s.triggers]\ncrons = ["x * * * *"]\n', environment="s")
    assert err.key_path == "env.s.triggers.crons[0]"
