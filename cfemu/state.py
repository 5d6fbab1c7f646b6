"""The persistence folder (``persist_to``): its lock and its format version."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Final

from cfemu.errors import StateError

__all__ = [
    "DEFAULT_STATE_DIR",
    "STATE_FORMAT_VERSION",
    "StateLock",
    "check_state_format",
    "default_state_folder",
]

#: Version of the on-disk layout under ``persist_to``. Bump it (and add a migration in
#: :func:`check_state_format`) whenever a file's schema changes.
STATE_FORMAT_VERSION: Final = 1
_FORMAT_FILE: Final = "cfemu-state.json"
#: Where ``cfemu dev`` and the CLI keep state unless ``--persist-to`` says otherwise,
#: relative to the folder of the (first) wrangler config.
DEFAULT_STATE_DIR: Final = Path(".cfemu") / "state"
_LOCK_FILE: Final = ".lock"


def default_state_folder(config_path: Path | str) -> Path:
    """The default persistence folder of a config: ``.cfemu/state`` beside it."""
    return Path(config_path).resolve().parent / DEFAULT_STATE_DIR


def check_state_format(folder: Path) -> None:
    """Create or check the folder's format marker; refuse state cfemu cannot read."""
    marker = folder / _FORMAT_FILE
    if not marker.exists():
        marker.write_text(json.dumps({"format": STATE_FORMAT_VERSION}) + "\n")
        return
    try:
        found = json.loads(marker.read_text())["format"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(f"{marker}: unreadable state format marker ({exc})") from None
    if not isinstance(found, int) or found > STATE_FORMAT_VERSION:
        raise StateError(
            f"{folder} holds state written by a newer cfemu (format {found}; this cfemu "
            f"reads format {STATE_FORMAT_VERSION}). Upgrade cfemu or use another --persist-to."
        )
    if found < STATE_FORMAT_VERSION:  # pragma: no cover - no older format exists yet
        raise StateError(f"{folder}: no migration from state format {found}")


class StateLock:
    """An exclusive lock on a persistence folder, held while an emulator uses it.

    A second process that tries to use the same folder gets a :class:`StateError` naming
    the holder's pid, instead of both consuming the same queues.
    """

    def __init__(self, folder: Path, handle: IO[str]) -> None:
        self.folder = folder
        self._handle: IO[str] | None = handle

    @classmethod
    def acquire(cls, folder: Path | str) -> StateLock:
        """Create ``folder`` if needed, lock it, and check its state format."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / _LOCK_FILE
        handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            _lock_exclusive(handle)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StateError(
                f"{folder} is in use by another cfemu process (pid {holder}); stop it, or "
                f"use another --persist-to folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            check_state_format(folder)
        except BaseException:
            _unlock(handle)
            handle.close()
            raise
        return cls(folder, handle)

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._handle is not None:
            _unlock(self._handle)
            self._handle.close()
            self._handle = None


try:
    import fcntl

    def _lock_exclusive(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _lock_exclusive(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
