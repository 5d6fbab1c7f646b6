"""Which files of a migrations folder are migrations, and in what order (wrangler's rules).

``migrations_pattern`` is a glob relative to the config's folder that must start with
``<migrations_dir>/``; cfemu works with the part after that prefix (default ``*.sql``).
Globs follow minimatch without ``dot``: ``*`` and ``?`` stay within one path segment,
``**`` spans any number of segments, ``[...]`` is a character class, and no wildcard
matches a name starting with ``.``. Brace expansion (``{a,b}``) is not supported.

Migration names are paths relative to ``migrations_dir`` with ``/`` separators
(``0001_init.sql``, ``0001_init/migration.sql``). They sort segment by segment: by the
leading integer of the segment (numbered before unnumbered), ties by the text.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from functools import cmp_to_key
from pathlib import Path

from cfemu.errors import MigrationError

__all__ = [
    "DEFAULT_PATTERN",
    "leading_number",
    "list_matching",
    "matches",
    "migration_sort_key",
    "relative_pattern",
]

#: The pattern (relative to ``migrations_dir``) when ``migrations_pattern`` is not set.
DEFAULT_PATTERN = "*.sql"
_LEADING_NUMBER = re.compile(r"^(\d+)")


def _normalize(path: str) -> str:
    normalized = posixpath.normpath(path.replace("\\", "/"))
    return normalized[:-1] if normalized.endswith("/") and normalized != "/" else normalized


def relative_pattern(migrations_dir: str | None, pattern: str | None) -> str:
    """``pattern`` made relative to ``migrations_dir`` (``None``: not set in the config).

    Raises ``MigrationError`` (wrangler's wording) if ``pattern`` is set without
    ``migrations_dir``, or does not start with ``<migrations_dir>/``.
    """
    if pattern is None:
        return DEFAULT_PATTERN
    if migrations_dir is None:
        raise MigrationError(
            f'You have set `migrations_pattern: "{pattern}"` in your wrangler config but have '
            "not set `migrations_dir` for this D1 binding.\n\nWhen `migrations_pattern` is set, "
            "`migrations_dir` must also be set, and `migrations_pattern` must start with "
            "`${migrations_dir}/`."
        )
    folder = _normalize(migrations_dir)
    normalized = _normalize(pattern)
    if folder == ".":
        return normalized
    if not normalized.startswith(folder + "/"):
        raise MigrationError(
            f'The configured `migrations_pattern: "{pattern}"` in your wrangler config must '
            f'start with `{folder}/` to match `"migrations_dir": "{folder}"`.\n\nEither change '
            f"`migrations_pattern` so it starts with `{folder}/` (for example, "
            f'`"{folder}/*.sql"`), or change `migrations_dir` to match the start of your pattern.'
        )
    return normalized[len(folder) + 1 :]


def _segment_matches(glob: str, name: str) -> bool:
    if name.startswith(".") and not glob.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, glob)


def _match(globs: list[str], names: list[str]) -> bool:
    if not globs:
        return not names
    head, rest = globs[0], globs[1:]
    if head == "**":
        # Zero segments, or one more (not a dot name) and ** again.
        if _match(rest, names):
            return True
        return bool(names) and not names[0].startswith(".") and _match(globs, names[1:])
    return bool(names) and _segment_matches(head, names[0]) and _match(rest, names[1:])


def matches(pattern: str, name: str) -> bool:
    """Whether the ``/``-separated relative path ``name`` matches the glob ``pattern``."""
    return _match(pattern.split("/"), name.split("/"))


def leading_number(segment: str) -> int | None:
    """The integer a path segment starts with (``0003_x.sql`` → 3), else ``None``."""
    found = _LEADING_NUMBER.match(segment)
    return int(found.group(1)) if found else None


def _compare(a: str, b: str) -> int:
    for left, right in zip(a.split("/"), b.split("/"), strict=False):
        x, y = leading_number(left), leading_number(right)
        if x != y:
            if x is not None and y is not None:
                return -1 if x < y else 1
            return -1 if x is not None else 1
        if left != right:
            return -1 if left < right else 1
    return len(a.split("/")) - len(b.split("/"))


#: Sort key putting migration names in the order wrangler applies them.
migration_sort_key = cmp_to_key(_compare)


def list_matching(folder: Path, pattern: str = DEFAULT_PATTERN) -> list[str]:
    """The files under ``folder`` whose relative path matches ``pattern``, in apply order.

    A missing folder has none. Only folders a match could lie in are walked.
    """
    if not folder.is_dir():
        return []
    globs = pattern.split("/")
    found: list[str] = []
    stack: list[tuple[Path, list[str]]] = [(folder, [])]
    while stack:
        directory, parts = stack.pop()
        try:
            entries = list(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            names = [*parts, entry.name]
            if entry.is_dir():
                if _could_contain(globs, names):
                    stack.append((entry, names))
            elif entry.is_file() and _match(globs, names):
                found.append("/".join(names))
    return sorted(found, key=migration_sort_key)


def _could_contain(globs: list[str], names: list[str]) -> bool:
    """Whether a folder at relative path ``names`` could hold a match (a prefix match)."""
    if not names:
        return True
    if not globs:
        return False
    head = globs[0]
    if head == "**":
        return True
    return _segment_matches(head, names[0]) and _could_contain(globs[1:], names[1:])
