"""The names of a namespace's objects, kept so the Local Explorer can list them by name.

An id made by ``idFromName`` cannot be turned back into its name (it is a MAC of it), and an
object reached by id after a restart does not know it. So when an object addressed by name
first has storage, its namespace notes ``(id, name)``: in memory, and, when objects persist,
appended to ``names.jsonl`` in the namespace's folder (one ``["<64 hex>", "<name>"]`` per
line). That file is an index, not data: the objects' ``*.sqlite`` files are unchanged, a
state folder without it (older cfemu) simply has no names, and losing it loses no data (the
objects are then listed by id). A line cut short by a crash is skipped. An entry never goes
stale: the same name always makes the same id.
"""

from __future__ import annotations

import json
from pathlib import Path

from cfemu.state import NAME_INDEX_FILE

__all__ = ["ObjectNames"]


class ObjectNames:
    """``id -> name`` of the objects that have storage and were addressed by name."""

    __slots__ = ("_known", "_path")

    def __init__(self, folder: Path | None) -> None:
        self._path = None if folder is None else folder / NAME_INDEX_FILE
        self._known: dict[str, str] | None = None  # read on first use

    def _names(self) -> dict[str, str]:
        if self._known is None:
            self._known = {}
            if self._path is not None:
                try:
                    text = self._path.read_text(encoding="utf-8", errors="replace")
                except FileNotFoundError:
                    text = ""
                for line in text.splitlines():
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # a line cut short by a crash
                    if (
                        isinstance(entry, list)
                        and len(entry) == 2
                        and all(isinstance(part, str) for part in entry)
                    ):
                        self._known[entry[0]] = entry[1]
        return self._known

    def get(self, hex_id: str) -> str | None:
        """The name the object ``hex_id`` was addressed by, if it was noted."""
        return self._names().get(hex_id)

    def remember(self, hex_id: str, name: str) -> None:
        """Note the object's name (once: a known pair writes nothing)."""
        names = self._names()
        if names.get(hex_id) == name:
            return
        names[hex_id] = name
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a", encoding="utf-8") as index:
                index.write(json.dumps([hex_id, name], ensure_ascii=False) + "\n")
