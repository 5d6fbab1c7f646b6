"""Checks that span several keys, each with its own message."""

from __future__ import annotations

import json

import pytest

from cfemu.config import ConfigWarning, load_config
from tests.config.conftest import LoadError, LoadText, WriteFile


def test_dead_letter_queue_equal_to_its_own_queue(load_error: LoadError) -> None:
    err = load_error(
        '[[queues.consumers]]\nqueue = "ok"\n'
        '[[queues.consumers]]\nqueue = "jobs"\ndead_letter_queue = "jobs"\n'
    )
    assert err.key_path == "queues.consumers[1].dead_letter_queue"
    assert err.reason == 'Dead letter queue for queue "jobs" cannot be itself'


def test_dead_letter_queue_may_be_another_consumers_queue(load: LoadText) -> None:
    config = load(
        '[[queues.consumers]]\nqueue = "jobs"\ndead_letter_queue = "jobs-dlq"\n'
        '[[queues.consumers]]\nqueue = "jobs-dlq"\n'
    )
    assert [c.queue for c in config.queues.consumers] == ["jobs", "jobs-dlq"]


def test_two_consumers_for_one_queue(load_error: LoadError) -> None:
    err = load_error(
        '[[queues.consumers]]\nqueue = "jobs"\n'
        '[[queues.consumers]]\nqueue = "other"\n'
        '[[queues.consumers]]\nqueue = "jobs"\nmax_batch_size = 5\n'
    )
    assert err.key_path == "queues.consumers[2].queue"
    assert err.reason == (
        'Multiple consumers defined for queue "jobs": queues.consumers[0] and queues.consumers[2]'
    )


def test_a_producer_and_a_consumer_may_share_a_queue(load: LoadText) -> None:
    config = load(
        '[[queues.producers]]\nbinding = "A"\nqueue = "jobs"\n'
        '[[queues.producers]]\nbinding = "B"\nqueue = "jobs"\n'
        '[[queues.consumers]]\nqueue = "jobs"\n'
    )
    assert [p.binding for p in config.queues.producers] == ["A", "B"]


@pytest.mark.parametrize(
    ("text", "key_path", "first"),
    [
        (
            '[vars]\nDB = "x"\n[[d1_databases]]\nbinding = "DB"\n',
            "d1_databases[0].binding",
            "vars.DB (var)",
        ),
        (
            '[[d1_databases]]\nbinding = "X"\n[[queues.producers]]\nbinding = "X"\nqueue = "q"\n',
            "queues.producers[0].binding",
            "d1_databases[0].binding (D1 database)",
        ),
        (
            '[[queues.producers]]\nbinding = "AI"\nqueue = "q"\n[ai]\nbinding = "AI"\n',
            "ai.binding",
            "queues.producers[0].binding (queue producer)",
        ),
        (
            '[[d1_databases]]\nbinding = "DB"\n[[d1_databases]]\nbinding = "DB"\n',
            "d1_databases[1].binding",
            "d1_databases[0].binding (D1 database)",
        ),
        (
            '[vars]\nAI = 1\n[ai]\nbinding = "AI"\n',
            "ai.binding",
            "vars.AI (var)",
        ),
        (
            '[[queues.producers]]\nbinding = "Q"\nqueue = "a"\n'
            '[[queues.producers]]\nbinding = "Q"\nqueue = "b"\n',
            "queues.producers[1].binding",
            "queues.producers[0].binding (queue producer)",
        ),
    ],
)
def test_a_binding_name_used_twice(
    load_error: LoadError, text: str, key_path: str, first: str
) -> None:
    err = load_error(text)
    assert err.key_path == key_path
    assert err.reason.startswith("binding name ")
    assert f"is used twice: by {first} and by {key_path} (" in err.reason
    assert err.reason.endswith("; bindings must have unique names")


@pytest.mark.parametrize(
    ("text", "key_path", "bad"),
    [
        (
            '[[queues.producers]]\nbinding = "Q"\nqueue = "My_Queue"\n',
            "queues.producers[0].queue",
            "My_Queue",
        ),
        ('[[queues.consumers]]\nqueue = "-jobs"\n', "queues.consumers[0].queue", "-jobs"),
        (
            '[[queues.consumers]]\nqueue = "jobs"\ndead_letter_queue = "DLQ"\n',
            "queues.consumers[0].dead_letter_queue",
            "DLQ",
        ),
        (
            '[[queues.producers]]\nbinding = "Q"\nqueue = "' + "q" * 64 + '"\n',
            "queues.producers[0].queue",
            "q" * 64,
        ),
        ('[[queues.producers]]\nbinding = "Q"\nqueue = ""\n', "queues.producers[0].queue", ""),
    ],
)
def test_invalid_queue_names(load_error: LoadError, text: str, key_path: str, bad: str) -> None:
    err = load_error(text)
    assert err.key_path == key_path
    assert err.reason == (
        f'"{bad}" is not a valid queue name: use 1 to 63 lowercase letters, digits and dashes, '
        "not starting or ending with a dash"
    )


@pytest.mark.parametrize("name", ["a", "jobs", "jobs-dlq", "0", "a1-b2-c3", "q" * 63])
def test_valid_queue_names(load: LoadText, name: str) -> None:
    config = load(f'[[queues.producers]]\nbinding = "Q"\nqueue = "{name}"\n')
    assert config.queues.producers[0].queue == name


@pytest.mark.parametrize("name", ["jobs\n", "\njobs"])
def test_a_newline_does_not_sneak_into_a_queue_name(load_error: LoadError, name: str) -> None:
    data = {"queues": {"producers": [{"binding": "Q", "queue": name}]}}
    err = load_error(json.dumps(data), "wrangler.json")
    assert err.key_path == "queues.producers[0].queue"


@pytest.mark.parametrize(
    ("text", "key_path", "first"),
    [
        (
            '[[d1_databases]]\nbinding = "DB"\n[[kv_namespaces]]\nbinding = "DB"\nid = "x"\n',
            "kv_namespaces[0].binding",
            "d1_databases[0].binding (D1 database)",
        ),
        (
            '[vars]\nOBJ = "x"\n[[durable_objects.bindings]]\nname = "OBJ"\nclass_name = "C"\n',
            "durable_objects.bindings[0].name",
            "vars.OBJ (var)",
        ),
        (
            '[[r2_buckets]]\nbinding = "B"\nbucket_name = "b"\n[browser]\nbinding = "B"\n',
            "browser.binding",
            "r2_buckets[0].binding (R2 bucket)",
        ),
        (
            '[[services]]\nbinding = "S"\nservice = "a"\n'
            '[[services]]\nbinding = "S"\nservice = "b"\n',
            "services[1].binding",
            "services[0].binding (service)",
        ),
        (
            '[ai]\nbinding = "T"\n[text_blobs]\nT = "t.txt"\n',
            "text_blobs.T",
            "ai.binding (AI)",
        ),
    ],
)
def test_binding_names_are_unique_across_unemulated_kinds_too(
    load_error: LoadError, text: str, key_path: str, first: str
) -> None:
    # wrangler rejects "X assigned to KV Namespace and D1 Database bindings": every kind
    # shares env, emulated or not.
    err = load_error(text)
    assert err.key_path == key_path
    assert f"is used twice: by {first} and by {key_path} (" in err.reason


def test_binding_uniqueness_in_an_environment_names_the_environment(
    load_error: LoadError,
) -> None:
    err = load_error(
        '[env.s]\nvars = { KV = "x" }\n[[env.s.kv_namespaces]]\nbinding = "KV"\nid = "a"\n',
        environment="s",
    )
    assert err.key_path == "env.s.kv_namespaces[0].binding"
    assert "by env.s.vars.KV (var)" in err.reason


def test_malformed_unemulated_bindings_are_not_checked_for_names(write: WriteFile) -> None:
    path = write(
        "wrangler.json",
        '{"hyperdrive": "junk", "r2_buckets": [3, {"binding": 5}], "unsafe": [], "text_blobs": 2}',
    )
    with pytest.warns(ConfigWarning):
        config = load_config(path)
    assert config.raw["hyperdrive"] == "junk"
