"""The persistence folder (``persist_to``): its lock, its format marker, its damage checks.

The marker, ``cfemu-state.json``, says which format the folder is in and which files hold
data (``{"format": 1, "files": ["d1/DB.sqlite", "queues.sqlite"]}``). Every data file is
an SQLite file (``*.sqlite``) somewhere under the folder; once one has been seen holding
data it is recorded, and from then on a recorded file that is missing or empty means the
state was damaged: cfemu refuses to start instead of quietly starting empty. Nothing here
ever deletes or replaces data, except :func:`reset_state_folder` (``cfemu dev --reset``).

Besides data files, a Durable Object namespace's folder may hold :data:`NAME_INDEX_FILE`,
the names of its objects: an index whose loss loses no data (its objects are then known by
id only), so it is not recorded and adding it did not change the format.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Final

from cfemu.errors import StateError

__all__ = [
    "DEFAULT_STATE_DIR",
    "NAME_INDEX_FILE",
    "STATE_FORMAT_VERSION",
    "WAY_OUT",
    "StateLock",
    "check_state_folder",
    "check_state_format",
    "default_state_folder",
    "forget_state_file",
    "opening_state",
    "record_state_files",
    "reset_state_folder",
    "state_files",
]

#: Version of the on-disk layout under ``persist_to``. Bump it (and add a migration in
#: :func:`check_state_folder`) whenever a file's schema changes.
STATE_FORMAT_VERSION: Final = 1
_FORMAT_FILE: Final = "cfemu-state.json"
#: A Durable Object namespace's index of its objects' names (:mod:`cfemu.durable_objects.names`).
NAME_INDEX_FILE: Final = "names.jsonl"
#: Where ``cfemu dev`` and the CLI keep state unless ``--persist-to`` says otherwise,
#: relative to the folder of the (first) wrangler config.
DEFAULT_STATE_DIR: Final = Path(".cfemu") / "state"
_LOCK_FILE: Final = ".lock"
_DATA_SUFFIX: Final = ".sqlite"
#: What every message about damaged state offers the user.
WAY_OUT: Final = (
    "Restore the folder from a backup, start over with `cfemu dev --reset` (which deletes "
    "the folder's state), or use a new --persist-to folder."
)


def default_state_folder(config_path: Path | str) -> Path:
    """The default persistence folder of a config: ``.cfemu/state`` beside it."""
    return Path(config_path).resolve().parent / DEFAULT_STATE_DIR


# --- the marker -------------------------------------------------------------------------------
def _read_marker(folder: Path) -> tuple[int, list[str]] | None:
    """``(format, recorded files)`` from the folder's marker; ``None`` if there is none."""
    marker = folder / _FORMAT_FILE
    try:
        text = marker.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"{marker}: cannot read the state marker ({exc}). {WAY_OUT}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        why = "it is empty" if not text.strip() else f"it is not JSON: {exc}"
        raise StateError(f"{marker}: unreadable state marker ({why}). {WAY_OUT}") from None
    if not isinstance(data, dict) or "format" not in data:
        raise StateError(
            f'{marker}: unreadable state marker (expected {{"format": <integer>, ...}}, got '
            f"{text.strip()[:80]}). {WAY_OUT}"
        )
    found = data["format"]
    if isinstance(found, bool) or not isinstance(found, int):
        raise StateError(
            f"{marker}: unreadable state marker (format must be an integer, got {found!r}). "
            f"{WAY_OUT}"
        )
    files = data.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise StateError(
            f"{marker}: unreadable state marker (files must be a list of paths, got "
            f"{files!r}). {WAY_OUT}"
        )
    return found, files


def _write_marker(folder: Path, files: list[str]) -> None:
    """Write the marker atomically (a new file renamed over the old one)."""
    marker = folder / _FORMAT_FILE
    temporary = folder / f".{_FORMAT_FILE}.{os.getpid()}.tmp"
    data = {"format": STATE_FORMAT_VERSION, "files": sorted(set(files))}
    try:
        temporary.write_text(json.dumps(data) + "\n", encoding="utf-8")
        os.replace(temporary, marker)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise _os_error(marker, exc) from None


def _check_format(folder: Path, found: int) -> None:
    if found > STATE_FORMAT_VERSION:
        raise StateError(
            f"{folder} holds state written by a newer cfemu (format {found}; this cfemu "
            f"reads format {STATE_FORMAT_VERSION}). Upgrade cfemu, or use another "
            f"--persist-to folder."
        )
    if found < 1:
        raise StateError(
            f"{folder / _FORMAT_FILE}: format {found} is not one any cfemu wrote. {WAY_OUT}"
        )
    if found < STATE_FORMAT_VERSION:  # pragma: no cover - no older format exists yet
        raise StateError(f"{folder}: no migration from state format {found}")


def state_files(folder: Path | str) -> list[str]:
    """The data files under ``folder`` that exist and hold data (relative, ``/``-separated)."""
    folder = Path(folder)
    found = []
    for path in folder.rglob(f"*{_DATA_SUFFIX}"):
        try:
            if path.is_file() and path.stat().st_size > 0:
                found.append(path.relative_to(folder).as_posix())
        except OSError:
            continue
    return sorted(found)


def check_state_folder(folder: Path | str, *, create: bool) -> None:
    """Check that ``folder`` holds state this cfemu can use, and is undamaged.

    With ``create`` (about to write), a folder without a marker gets one, unless it already
    holds data files: then the marker was lost and the folder is refused. Raises
    :class:`StateError`, naming the file and the way out, for a newer or unreadable format,
    a recorded data file that is missing or empty, or (with ``create``) a marker missing
    beside data files.
    """
    folder = Path(folder)
    marker = _read_marker(folder)
    if marker is None:
        if not folder.exists():
            if create:
                _make_folder(folder)
                _write_marker(folder, [])
            return
        present = state_files(folder) if create else []
        if present:  # reading it (the CLI's inspection) changes nothing; writing would
            raise StateError(
                f"{folder / _FORMAT_FILE} is missing, but {folder} holds state "
                f"({', '.join(present)}): it is damaged, or not cfemu's. {WAY_OUT}"
            )
        if create:
            _write_marker(folder, [])
        return
    found, recorded = marker
    _check_format(folder, found)
    for name in recorded:
        path = folder / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise StateError(
                f"{path} is missing: the state marker records that it held data, so "
                f"starting without it would lose that data. {WAY_OUT}"
            ) from None
        except OSError as exc:
            raise _os_error(path, exc) from None
        if size == 0:
            raise StateError(
                f"{path} is empty: the state marker records that it held data. {WAY_OUT}"
            )


def check_state_format(folder: Path) -> None:
    """Create or check the folder's marker (:func:`check_state_folder` with ``create``)."""
    check_state_folder(folder, create=True)


def record_state_files(folder: Path | str) -> None:
    """Record in the marker every data file the folder now holds (recorded ones stay)."""
    folder = Path(folder)
    marker = _read_marker(folder)
    if marker is None:
        if not folder.exists():
            return
        recorded: list[str] = []
    else:
        _check_format(folder, marker[0])
        recorded = marker[1]
    files = sorted(set(recorded) | set(state_files(folder)))
    if marker is None or files != sorted(set(recorded)):
        _write_marker(folder, files)


def forget_state_file(folder: Path | str, path: Path | str) -> None:
    """Remove ``path`` (a data file cfemu deleted on purpose, e.g. a D1 database deleted
    through the REST API) from the marker, so its absence is not taken for damage."""
    folder = Path(folder)
    marker = _read_marker(folder)
    if marker is None:
        return
    name = Path(path).resolve().relative_to(folder.resolve()).as_posix()
    if name in marker[1]:
        _write_marker(folder, [f for f in marker[1] if f != name])


def reset_state_folder(folder: Path | str) -> list[str]:
    """Delete the state in ``folder`` (``cfemu dev --reset``); returns what was deleted.

    Takes the folder's lock first, so state in use by another process is never deleted.
    Only cfemu's own files go: the marker, the lock, every ``*.sqlite`` file (with its
    ``-wal``/``-shm``) under the folder, and the Durable Objects' name indexes. A folder of
    another format is reset too: that is the way out it offers.
    """
    folder = Path(folder)
    if not folder.exists():
        return []
    handle = _lock(folder)
    deleted: list[str] = []
    try:
        for path in sorted(folder.rglob(f"*{_DATA_SUFFIX}*")):
            name = path.name
            if path.is_file() and name.endswith((_DATA_SUFFIX, "-wal", "-shm", "-journal")):
                path.unlink()
                deleted.append(path.relative_to(folder).as_posix())
        for path in sorted(folder.rglob(NAME_INDEX_FILE)):
            if path.is_file():
                path.unlink()
                deleted.append(path.relative_to(folder).as_posix())
        for sub in sorted(folder.iterdir()):  # now-empty folders of a kind (d1/, kv/)
            if sub.is_dir() and not any(sub.rglob("*")):
                shutil.rmtree(sub)
        marker = folder / _FORMAT_FILE
        if marker.exists():
            marker.unlink()
            deleted.append(_FORMAT_FILE)
        _write_marker(folder, [])
    except OSError as exc:
        raise _os_error(folder, exc) from None
    finally:
        _unlock(handle)
        handle.close()
    return deleted


# --- errors opening and reading state --------------------------------------------------------
def _os_error(path: Path, exc: OSError) -> StateError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StateError(
            f"{path} is not writable ({exc.strerror}): cfemu writes its state there. Make "
            f"the folder writable, or use another --persist-to folder."
        )
    return StateError(f"{path}: {exc.strerror or exc}")


@contextmanager
def opening_state(path: Path | str, what: str) -> Iterator[None]:
    """Turn an SQLite or OS error opening or reading the state file ``path`` into a
    :class:`StateError` naming the file, what it holds (``what``) and the way out."""
    path = Path(path)
    try:
        yield
    except StateError:
        raise
    except sqlite3.Error as exc:
        message = str(exc)
        code = getattr(exc, "sqlite_errorname", "")
        if (
            code.startswith("SQLITE_READONLY")
            or "readonly" in message
            or (code.startswith("SQLITE_CANTOPEN") and _read_only(path))
        ):
            raise StateError(
                f"{path} is not writable ({message}): cfemu writes its {what} there. Make "
                f"the folder writable, or use another --persist-to folder."
            ) from exc
        damaged = isinstance(exc, sqlite3.DatabaseError) and not isinstance(
            exc, sqlite3.OperationalError | sqlite3.IntegrityError
        )
        if damaged or code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            raise StateError(
                f"{path} is damaged: cannot read its {what} ({message}). {WAY_OUT}"
            ) from exc
        raise StateError(f"{path}: cannot open its {what} ({message}).") from exc
    except OSError as exc:
        raise _os_error(path, exc) from exc


def _read_only(path: Path) -> bool:
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    probe = folder / f".cfemu-write-probe-{os.getpid()}"
    try:
        probe.touch()
    except OSError:
        return True
    probe.unlink(missing_ok=True)
    return False


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(folder, exc) from None


# --- the lock --------------------------------------------------------------------------------
def _lock(folder: Path) -> IO[str]:
    path = folder / _LOCK_FILE
    try:
        handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    except OSError as exc:
        raise _os_error(folder, exc) from None
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
    return handle


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
        """Create ``folder`` if needed, lock it, and check its format and its files."""
        folder = Path(folder)
        _make_folder(folder)
        handle = _lock(folder)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            check_state_folder(folder, create=True)
            record_state_files(folder)
        except OSError as exc:
            _unlock(handle)
            handle.close()
            raise _os_error(folder / _LOCK_FILE, exc) from None
        except BaseException:
            _unlock(handle)
            handle.close()
            raise
        return cls(folder, handle)

    def record_files(self) -> None:
        """Record the data files the folder holds now (after services opened theirs)."""
        if self._handle is not None:
            record_state_files(self.folder)

    def release(self) -> None:
        """Record the folder's data files and release the lock (idempotent)."""
        if self._handle is not None:
            try:
                record_state_files(self.folder)
            except StateError:
                pass  # a folder gone read-only: its files stay as they were recorded
            finally:
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
