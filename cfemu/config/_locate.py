"""Where a key path sits in a config file: ``queues.consumers[0].max_retries`` → line 12, col 1.

tomllib and json give values, not positions, so :class:`SourceMap` scans the (already
validated) text once more and records the offset of every key and array item. Errors and
warnings then name ``file:line:col`` for any key path, or the nearest enclosing one that is
written in the file (a missing key points at its table).
"""

from __future__ import annotations

import json
import json.decoder
import re
from collections.abc import Callable

from cfemu.config._parse import JsoncSyntaxError, line_column, strip_jsonc

__all__ = ["Loc", "SourceMap", "parse_key_path"]

Loc = tuple[str | int, ...]

_PATH_PART = re.compile(r'\.?([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_WS = " \t"
#: The JSON string scanner json.loads uses: (text, index after the quote) -> (value, end).
scanstring: Callable[..., tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


def parse_key_path(text: str) -> Loc:
    """The inverse of :func:`~cfemu.config._errors.format_key_path` (``a.b[0]["c.d"]``)."""
    loc: list[str | int] = []
    i = 0
    while i < len(text):
        m = _PATH_PART.match(text, i)
        if m is None:
            break
        if m.group(1) is not None:
            loc.append(m.group(1))
        elif m.group(2) is not None:
            loc.append(int(m.group(2)))
        else:
            loc.append(str(json.loads(m.group(3))))
        i = m.end()
    return tuple(loc)


class SourceMap:
    """Offsets of every key (and array item) of one config file's text."""

    def __init__(self, text: str, fmt: str) -> None:
        self.text = text.removeprefix("\ufeff")
        self.offsets: dict[Loc, int] = {}
        try:
            if fmt == "toml":
                _TomlScanner(self.text, self.offsets).run()
            else:
                plain = strip_jsonc(self.text)
                _scan_json(plain, _skip_json_ws(plain, 0), (), self.offsets)
        except (IndexError, ValueError, RecursionError, JsoncSyntaxError):
            pass  # best effort: whatever was recorded before the surprise still counts

    def position(self, loc: Loc) -> tuple[int, int] | None:
        """``(line, column)`` of ``loc``, or of its nearest ancestor written in the file."""
        for end in range(len(loc), 0, -1):
            offset = self.offsets.get(loc[:end])
            if offset is not None:
                return line_column(self.text, offset)
        return None


# --- JSON / JSONC (comments already blanked out, offsets unchanged) ------------------------
def _skip_json_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _scan_json(text: str, i: int, loc: Loc, out: dict[Loc, int]) -> int:
    ch = text[i]
    if ch == "{":
        i = _skip_json_ws(text, i + 1)
        while text[i] != "}":
            key, end = scanstring(text, i + 1)
            out[(*loc, key)] = i
            i = _skip_json_ws(text, end)
            i = _skip_json_ws(text, i + 1)  # the colon
            i = _skip_json_ws(text, _scan_json(text, i, (*loc, key), out))
            if text[i] == ",":
                i = _skip_json_ws(text, i + 1)
        return i + 1
    if ch == "[":
        i = _skip_json_ws(text, i + 1)
        index = 0
        while text[i] != "]":
            out[(*loc, index)] = i
            i = _skip_json_ws(text, _scan_json(text, i, (*loc, index), out))
            if text[i] == ",":
                i = _skip_json_ws(text, i + 1)
            index += 1
        return i + 1
    if ch == '"':
        return scanstring(text, i + 1)[1]
    while i < len(text) and text[i] not in ",]} \t\r\n":
        i += 1
    return i


# --- TOML -------------------------------------------------------------------------------------
class _TomlScanner:
    """Just enough TOML to know where keys are: headers, dotted keys, inline tables, arrays."""

    def __init__(self, text: str, out: dict[Loc, int]) -> None:
        self.text = text
        self.out = out
        self.i = 0
        self.table: Loc = ()
        self.arrays: dict[tuple[str, ...], int] = {}  # array-of-tables path -> items so far

    def run(self) -> None:
        text = self.text
        while self.i < len(text):
            self._skip_blank()
            if self.i >= len(text):
                return
            if text[self.i] == "[":
                self._header()
            else:
                keys = self._keys()
                self._record(self.table, keys)
                self._skip_ws()
                self.i += 1  # "="
                self._skip_ws()
                self._value((*self.table, *(key for key, _ in keys)))
            self._skip_to_line_end()

    def _record(self, base: Loc, keys: list[tuple[str, int]]) -> None:
        names = [key for key, _ in keys]
        for n, (_, offset) in enumerate(keys, 1):
            self.out.setdefault((*base, *names[:n]), offset)

    def _resolve(self, keys: list[str]) -> Loc:
        loc: list[str | int] = []
        for n, key in enumerate(keys, 1):
            loc.append(key)
            count = self.arrays.get(tuple(keys[:n]))
            if count:
                loc.append(count - 1)
        return tuple(loc)

    def _header(self) -> None:
        start = self.i
        is_array = self.text.startswith("[[", self.i)
        self.i += 2 if is_array else 1
        self._skip_ws()
        keys = [key for key, _ in self._keys()]
        if is_array:
            path = tuple(keys)
            self.arrays[path] = self.arrays.get(path, 0) + 1
            # Forget nested arrays of the previous item: [[a]] [[a.b]] [[a]] [[a.b]] restarts b.
            for other in [p for p in self.arrays if p[: len(path)] == path and p != path]:
                del self.arrays[other]
        loc = self._resolve(keys)
        self.out.setdefault(loc[:-1] if is_array else loc, start)
        self.out[loc] = start
        for n in range(1, len(loc)):
            self.out.setdefault(loc[:n], start)
        self.table = loc
        self._skip_ws()
        self.i += 2 if is_array else 1

    def _keys(self) -> list[tuple[str, int]]:
        """A (dotted) key: each part with its offset."""
        start = self.i
        keys = [(self._key(), start)]
        self._skip_ws()
        while self.i < len(self.text) and self.text[self.i] == ".":
            self.i += 1
            self._skip_ws()
            start = self.i
            keys.append((self._key(), start))
            self._skip_ws()
        return keys

    def _key(self) -> str:
        text = self.text
        ch = text[self.i]
        if ch == '"':
            value, self.i = scanstring(text, self.i + 1)
            return value
        if ch == "'":
            end = text.index("'", self.i + 1)
            value = text[self.i + 1 : end]
            self.i = end + 1
            return value
        m = _BARE.match(text, self.i)
        if m is None:
            raise ValueError("not a key")
        self.i = m.end()
        return m.group(0)

    def _value(self, loc: Loc) -> None:
        text = self.text
        ch = text[self.i]
        if text.startswith('"""', self.i) or text.startswith("'''", self.i):
            quote = text[self.i : self.i + 3]
            j = self.i + 3
            while True:
                j = text.index(quote, j)
                if quote == '"""' and _escaped(text, j):
                    j += 1
                    continue
                break
            while text.startswith(quote[0], j + 3):  # up to two quotes may end the content
                j += 1
            self.i = j + 3
        elif ch == '"':
            self.i = scanstring(text, self.i + 1, False)[1]
        elif ch == "'":
            self.i = text.index("'", self.i + 1) + 1
        elif ch == "[":
            self.i += 1
            index = 0
            while True:
                self._skip_blank()
                if text[self.i] == "]":
                    self.i += 1
                    return
                self.out.setdefault((*loc, index), self.i)
                self._value((*loc, index))
                self._skip_blank()
                if text[self.i] == ",":
                    self.i += 1
                index += 1
        elif ch == "{":
            self.i += 1
            while True:
                self._skip_ws()
                if text[self.i] == "}":
                    self.i += 1
                    return
                keys = self._keys()
                self._record(loc, keys)
                self._skip_ws()
                self.i += 1  # "="
                self._skip_ws()
                self._value((*loc, *(key for key, _ in keys)))
                self._skip_ws()
                if text[self.i] == ",":
                    self.i += 1
        else:
            while self.i < len(text) and text[self.i] not in ",]}#\r\n":
                self.i += 1

    def _skip_ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in _WS:
            self.i += 1

    def _skip_blank(self) -> None:
        """Whitespace, newlines and comments."""
        text = self.text
        while self.i < len(text):
            ch = text[self.i]
            if ch in " \t\r\n":
                self.i += 1
            elif ch == "#":
                end = text.find("\n", self.i)
                self.i = len(text) if end == -1 else end
            else:
                return

    def _skip_to_line_end(self) -> None:
        end = self.text.find("\n", self.i)
        self.i = len(self.text) if end == -1 else end + 1


def _escaped(text: str, j: int) -> bool:
    backslashes = 0
    while j - 1 - backslashes >= 0 and text[j - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
