"""The store's attempt history, as a stopped process leaves it."""

from __future__ import annotations

from pathlib import Path

from cfemu.workflows.history import describe_instance
from cfemu.workflows.store import WorkflowStore


def test_an_attempt_left_open_by_a_stopped_process_is_closed_as_interrupted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "workflows.sqlite"
    first = WorkflowStore(path)
    first.add_instance("flow", "i", {"n": 1}, 1_000)
    first.begin_attempt("flow", "i", "do:charge-1", 2_000)
    first.close()  # the process stops in the middle of the attempt

    second = WorkflowStore(path)
    retry = second.begin_attempt("flow", "i", "do:charge-1", 9_000)
    second.record_step("flow", "i", "do:charge-1", '{"ok": true}')
    second.end_attempt(retry, 9_500)
    found = describe_instance(second, "flow", "i", now_ms=10_000)
    second.close()
    attempts = found["steps"][0]["attempts"]
    assert [a["success"] for a in attempts] == [False, True]
    assert attempts[0]["error"]["name"] == "Interrupted"
    assert attempts[0]["end"] == "1970-01-01T00:00:09.000Z"
    assert found["steps"][0]["output"] == {"ok": True}
    assert found["start"] == "1970-01-01T00:00:02.000Z"


def test_forgetting_steps_forgets_their_attempts(tmp_path: Path) -> None:
    store = WorkflowStore(None)
    store.add_instance("flow", "i", None, 0)
    store.end_attempt(store.begin_attempt("flow", "i", "do:a-1", 1), 2)
    store.record_step("flow", "i", "do:a-1", "1")
    store.begin_attempt("flow", "i", "do:b-1", 3)
    store.forget_steps("flow", "i")
    assert store.attempts("flow", "i") == []
