"""The persistence folder: one process at a time, a versioned format, damage refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cfemu.errors import StateError
from cfemu.state import (
    STATE_FORMAT_VERSION,
    StateLock,
    check_state_folder,
    record_state_files,
    reset_state_folder,
    state_files,
)

WAY_OUT = r"cfemu dev --reset.*new --persist-to folder"


def marker(folder: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / "cfemu-state.json").read_text())
    return data


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


def test_folder_gets_a_format_marker_recording_its_data_files(tmp_path: Path) -> None:
    lock = StateLock.acquire(tmp_path)
    assert marker(tmp_path) == {"format": STATE_FORMAT_VERSION, "files": []}
    (tmp_path / "d1").mkdir()
    (tmp_path / "d1" / "DB.sqlite").write_bytes(b"x" * 10)
    (tmp_path / "queues.sqlite").write_bytes(b"")  # empty: holds no data yet
    lock.record_files()
    assert marker(tmp_path)["files"] == ["d1/DB.sqlite"]
    lock.release()


def test_state_from_a_newer_cfemu_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cfemu-state.json").write_text(json.dumps({"format": STATE_FORMAT_VERSION + 1}))
    with pytest.raises(StateError, match="newer cfemu"):
        StateLock.acquire(tmp_path)
    # the refused attempt released its lock: with a readable marker the folder opens again
    (tmp_path / "cfemu-state.json").write_text(json.dumps({"format": STATE_FORMAT_VERSION}))
    StateLock.acquire(tmp_path).release()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "it is not JSON"),
        ("", "it is empty"),
        ('{"format": "1"}', "format must be an integer, got '1'"),
        ('{"format": true}', "format must be an integer, got True"),
        ("[1]", 'expected {"format": <integer>'),
        ('{"format": 1, "files": "queues.sqlite"}', "files must be a list"),
    ],
)
def test_an_unreadable_marker_is_refused_with_the_reason(
    tmp_path: Path, text: str, why: str
) -> None:
    (tmp_path / "cfemu-state.json").write_text(text)
    with pytest.raises(StateError) as info:
        StateLock.acquire(tmp_path)
    message = str(info.value)
    assert "cfemu-state.json: unreadable state marker" in message
    assert why in message and "newer" not in message
    assert "--reset" in message


def test_format_zero_is_not_a_format_any_cfemu_wrote(tmp_path: Path) -> None:
    (tmp_path / "cfemu-state.json").write_text('{"format": 0}')
    with pytest.raises(StateError, match="format 0 is not one any cfemu wrote"):
        check_state_folder(tmp_path, create=False)


@pytest.mark.parametrize("damage", ["deleted", "emptied"])
def test_a_recorded_data_file_missing_or_empty_is_refused(tmp_path: Path, damage: str) -> None:
    lock = StateLock.acquire(tmp_path)
    (tmp_path / "queues.sqlite").write_bytes(b"data")  # a service wrote its file
    lock.release()
    assert marker(tmp_path)["files"] == ["queues.sqlite"]
    if damage == "deleted":
        (tmp_path / "queues.sqlite").unlink()
    else:
        (tmp_path / "queues.sqlite").write_bytes(b"")
    expected = "is missing" if damage == "deleted" else "is empty"
    with pytest.raises(StateError, match=rf"queues.sqlite {expected}.*{WAY_OUT}"):
        StateLock.acquire(tmp_path)
    with pytest.raises(StateError, match=expected):
        check_state_folder(tmp_path, create=False)  # what the CLI's read commands run


def test_a_missing_marker_beside_data_is_refused_not_rewritten(tmp_path: Path) -> None:
    (tmp_path / "queues.sqlite").write_bytes(b"data")
    with pytest.raises(StateError, match=rf"cfemu-state.json is missing.*queues.sqlite.*{WAY_OUT}"):
        StateLock.acquire(tmp_path)
    assert not (tmp_path / "cfemu-state.json").exists()
    check_state_folder(tmp_path, create=False)  # reading it (to inspect) is allowed


def test_reset_deletes_only_cfemus_state_and_refuses_a_folder_in_use(tmp_path: Path) -> None:
    lock = StateLock.acquire(tmp_path)
    (tmp_path / "d1").mkdir()
    for name in ("queues.sqlite", "queues.sqlite-wal", "d1/DB.sqlite"):
        (tmp_path / name).write_bytes(b"data")
    (tmp_path / "notes.txt").write_text("mine")
    lock.release()
    (tmp_path / "cfemu-state.json").write_text('{"format": 99}')  # even a foreign format
    holder = StateLock.__new__(StateLock)  # the lock of "another process"
    from cfemu.state import _lock

    holder.__init__(tmp_path, _lock(tmp_path))  # type: ignore[misc]
    with pytest.raises(StateError, match="in use"):
        reset_state_folder(tmp_path)
    holder.release()
    deleted = reset_state_folder(tmp_path)
    assert set(deleted) == {
        "queues.sqlite",
        "queues.sqlite-wal",
        "d1/DB.sqlite",
        "cfemu-state.json",
    }
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert state_files(tmp_path) == []
    assert marker(tmp_path) == {"format": STATE_FORMAT_VERSION, "files": []}
    StateLock.acquire(tmp_path).release()


def test_recording_keeps_files_already_recorded(tmp_path: Path) -> None:
    lock = StateLock.acquire(tmp_path)
    (tmp_path / "a.sqlite").write_bytes(b"data")
    lock.release()
    (tmp_path / "b.sqlite").write_bytes(b"data")
    record_state_files(tmp_path)
    assert marker(tmp_path)["files"] == ["a.sqlite", "b.sqlite"]
