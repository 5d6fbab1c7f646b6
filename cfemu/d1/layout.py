"""Which files of a migrations folder are migrations, and in what order (wrangler's rules).

``migrations_pattern`` is a glob relative to the config's folder that must start with
``<migrations_dir>/``; cfemu works with the part after that prefix (default ``*.sql``).
Globs follow minimatch without ``dot``: ``*`` and ``?`` stay within one path segment,
``**`` spans any number of segments, ``[...]`` is a character class, and no wildcard
matches a name starting with ``.``. Braces expand first, as minimatch's do: ``{a,b}`` is
either alternative (nested braces too) and ``{1..3}`` a numeric range; a brace with no
comma or range (``{a}``) is literal.

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
    "expand_braces",
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


_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")
_MAX_EXPANSIONS = 1024


def _closing(pattern: str, start: int) -> int:
    """The index of the ``}`` closing the ``{`` at ``start``, or -1."""
    depth = 0
    for index in range(start, len(pattern)):
        char = pattern[index]
        if char == "\\":
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _alternatives(body: str) -> list[str] | None:
    """The comma-separated parts of a brace's body (top level only), or a numeric range;
    ``None`` when the brace is literal."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in body:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "{"
        depth -= char == "}"
        current += char
    parts.append(current)
    if len(parts) > 1:
        return parts
    found = _RANGE.match(body)
    if found:
        low, high = int(found.group(1)), int(found.group(2))
        step = 1 if high >= low else -1
        width = len(found.group(1)) if found.group(1).startswith("0") else 0
        return [str(n).zfill(width) for n in range(low, high + step, step)]
    return None


def expand_braces(pattern: str) -> list[str]:
    """``pattern`` with its braces expanded (``a/{b,c}/*.sql`` → ``a/b/*.sql``,
    ``a/c/*.sql``), in order; a pattern without braces is itself."""
    start = pattern.find("{")
    while start != -1:
        end = _closing(pattern, start)
        if end == -1:
            return [pattern]
        options = _alternatives(pattern[start + 1 : end])
        if options is not None:
            head, tail = pattern[:start], pattern[end + 1 :]
            expanded: list[str] = []
            for option in options:
                for rest in expand_braces(head + option + tail):
                    if rest not in expanded:
                        expanded.append(rest)
                    if len(expanded) >= _MAX_EXPANSIONS:
                        return expanded
            return expanded
        start = pattern.find("{", start + 1)
    return [pattern]


def matches(pattern: str, name: str) -> bool:
    """Whether the ``/``-separated relative path ``name`` matches the glob ``pattern``."""
    names = name.split("/")
    return any(_match(p.split("/"), names) for p in expand_braces(pattern))


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
    alternatives = [p.split("/") for p in expand_braces(pattern)]
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
                if any(_could_contain(globs, names) for globs in alternatives):
                    stack.append((entry, names))
            elif entry.is_file() and any(_match(globs, names) for globs in alternatives):
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
