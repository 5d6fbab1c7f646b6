"""The persistence folder: one process at a time, and a versioned format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cfemu.errors import StateError
from cfemu.state import STATE_FORMAT_VERSION, StateLock


def test_second_lock_on_the_same_folder_is_refused_with_the_holder(tmp_path: Path) -> None:
    first = StateLock.acquire(tmp_path / "state")
    try:
        with pytest.raises(StateError, match=r"in use by another cfemu process \(pid \d+\)"):
            StateLock.acquire(tmp_path / "state")
    finally:
        first.release()
    again = StateLock.acquire(tmp_path / "state")
    again.release()
    again.release()  # idempotent


def test_folder_gets_a_format_marker(tmp_path: Path) -> None:
    StateLock.acquire(tmp_path).release()
    marker = json.loads((tmp_path / "cfemu-state.json").read_text())
    assert marker == {"format": STATE_FORMAT_VERSION}


def test_state_from_a_newer_cfemu_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cfemu-state.json").write_text(json.dumps({"format": STATE_FORMAT_VERSION + 1}))
    with pytest.raises(StateError, match="newer cfemu"):
        StateLock.acquire(tmp_path)
    # the refused attempt released its lock: with a readable marker the folder opens again
    (tmp_path / "cfemu-state.json").write_text(json.dumps({"format": STATE_FORMAT_VERSION}))
    StateLock.acquire(tmp_path).release()


def test_unreadable_marker_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cfemu-state.json").write_text("{not json")
    with pytest.raises(StateError, match="unreadable state format marker"):
        StateLock.acquire(tmp_path)
