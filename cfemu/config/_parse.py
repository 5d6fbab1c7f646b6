"""Parsing wrangler config files (TOML, JSON, JSONC) into plain Python data.

Every syntax error becomes a :class:`~cfemu.errors.ConfigError` naming the file, line and
column; no parser exception escapes. JSON and JSONC files share one parser, as in wrangler:
``//`` and ``/* */`` comments and trailing commas are accepted in both (spec:
workers-and-config.md §3.1).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from cfemu.errors import ConfigError

__all__ = ["parse_config_file", "parse_config_text", "read_config_text", "strip_jsonc"]

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")
_JSON_WORDS = frozenset({"true", "false", "null"})


class JsoncSyntaxError(ValueError):
    """A JSONC-level syntax error (unterminated comment, bare word) at a character offset."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def line_column(text: str, offset: int) -> tuple[int, int]:
    """Return the 1-based ``(line, column)`` of character ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def strip_jsonc(text: str) -> str:
    """Turn JSONC into JSON with every character at the same offset.

    Comments become spaces (their newlines are kept) and a comma followed only by whitespace
    or comments before ``}`` or ``]`` becomes a space, so a JSON decoder's line and column
    still point into the original file. Strings are skipped whole, so ``"http://x"`` and
    ``"/* no comment */"`` stay intact. Bare words other than ``true``, ``false`` and
    ``null`` (``NaN``, ``Infinity``, unquoted keys) raise :class:`JsoncSyntaxError`.
    """
    out = list(text)
    n = len(text)
    i = 0
    pending_comma = -1
    previous = ""  # the last character outside comments and whitespace
    while i < n:
        ch = text[i]
        if ch == '"':
            pending_comma = -1
            previous = ch
            start = i
            i += 1
            while i < n and text[i] != '"' and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
            if i >= n or text[i] != '"':
                raise JsoncSyntaxError("unterminated string", start)
            i += 1
            continue
        if ch == "/" and i + 1 < n and text[i + 1] == "/":
            end = text.find("\n", i)
            end = n if end == -1 else end
            for j in range(i, end):
                out[j] = " "
            i = end
            continue
        if ch == "/" and i + 1 < n and text[i + 1] == "*":
            end = text.find("*/", i + 2)
            if end == -1:
                raise JsoncSyntaxError("unterminated /* comment", i)
            for j in range(i, end + 2):
                if out[j] != "\n":
                    out[j] = " "
            i = end + 2
            continue
        if ch == ",":
            # ",," and "[," are errors for the decoder to report where they are, not
            # trailing commas: only a comma after a value may be dropped.
            pending_comma = i if pending_comma == -1 and previous not in "[{" else -2
        elif ch in "}]":
            if pending_comma >= 0:
                out[pending_comma] = " "
            pending_comma = -1
        elif ch.isdigit() or ch == "-":
            # A number, exponent included (1e+16); the JSON decoder checks its form.
            while i < n and (text[i].isdigit() or text[i] in "+-.eE"):
                i += 1
            pending_comma = -1
            previous = "0"
            continue
        elif ch.isalpha() or ch == "_" or ch == "$":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_$"):
                i += 1
            word = text[start:i]
            if word not in _JSON_WORDS:
                raise JsoncSyntaxError(
                    f"unexpected word {word!r} (strings and keys need quotes)", start
                )
            pending_comma = -1
            previous = "a"
            continue
        elif not ch.isspace():
            pending_comma = -1
        if not ch.isspace():
            previous = ch
        i += 1
    return "".join(out)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # pragma: no cover - strip_jsonc rejects bare words before this


def _parse_json(text: str, file: Path) -> Any:
    try:
        plain = strip_jsonc(text)
    except JsoncSyntaxError as exc:
        line, column = line_column(text, exc.offset)
        raise ConfigError(
            f"invalid JSON: {exc.message}", file=file, line=line, column=column
        ) from None
    try:
        return json.loads(plain, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON: {exc.msg}", file=file, line=exc.lineno, column=exc.colno
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"invalid JSON: {exc}", file=file) from None


def _parse_toml(text: str, file: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        line: int | None = getattr(exc, "lineno", None)
        column: int | None = getattr(exc, "colno", None)
        if (m := _TOML_POSITION.search(message)) is not None:
            line, column = int(m.group(1)), int(m.group(2))
            message = message[: m.start()]
        elif (m := _TOML_AT_END.search(message)) is not None:
            line, column = line_column(text, len(text))
            message = message[: m.start()] + " (at end of file)"
        raise ConfigError(f"invalid TOML: {message}", file=file, line=line, column=column) from None
    except RecursionError:  # pragma: no cover - absurdly deep nesting
        raise ConfigError("invalid TOML: nesting too deep", file=file) from None


def config_format(path: Path) -> str:
    """``"toml"`` or ``"json"`` by file suffix (``.jsonc`` parses as JSON with comments)."""
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return "toml"
    if suffix in (".json", ".jsonc"):
        return "json"
    raise ConfigError(
        "unsupported config file type: use wrangler.toml, wrangler.json or wrangler.jsonc",
        file=path,
    )


def parse_config_text(text: str, *, file: Path, fmt: str) -> dict[str, Any]:
    """Parse config ``text`` (``fmt`` is ``"toml"`` or ``"json"``) into a dict."""
    text = text.removeprefix("\ufeff")
    data = _parse_toml(text, file) if fmt == "toml" else _parse_json(text, file)
    if not isinstance(data, dict):
        raise ConfigError(
            f"the configuration must be an object at the top level, got {type(data).__name__}",
            file=file,
            line=1,
            column=1,
        )
    return data


def read_config_text(path: Path) -> str:
    """The text of the config file at ``path``; a ConfigError if it is missing or not UTF-8."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("config file not found", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", file=path) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = raw[: exc.start].decode("utf-8", "replace")
        line, column = line_column(prefix, len(prefix))
        raise ConfigError("file is not valid UTF-8", file=path, line=line, column=column) from None


def parse_config_file(path: Path) -> dict[str, Any]:
    """Read and parse the config file at ``path``."""
    fmt = config_format(path)
    return parse_config_text(read_config_text(path), file=path, fmt=fmt)
