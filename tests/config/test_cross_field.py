"""Checks that span several keys, each with its own message."""

from __future__ import annotations

import json

import pytest

from tests.config.conftest import LoadError, LoadText


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
