"""Test-side writers: a config dict → TOML, JSON and JSONC text (no extra dependency).

The TOML writer uses real TOML structure (``[table]``, ``[[array.of.tables]]``, inline tables
inside arrays) so the loader is exercised on the syntax people write. The JSONC writer adds
``//`` and ``/* */`` comments and trailing commas to ``json.dumps`` output.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(key: str) -> str:
    return key if _BARE.fullmatch(key) else toml_string(key)


def toml_string(value: str) -> str:
    # json.dumps escapes ", \ and control characters as TOML basic strings do; TOML also
    # wants DEL escaped.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        assert math.isfinite(value)
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()  # a bare TOML date/time: what an unquoted date parses to
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"no TOML form for {value!r}")  # None has none: leave the key out


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _emit_table(lines: list[str], path: list[str], table: dict[str, Any]) -> None:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict) and not _is_table_array(v)}
    for key, value in plain.items():
        lines.append(f"{toml_key(key)} = {toml_value(value)}")
    for key, value in table.items():
        if isinstance(value, dict):
            sub = [*path, toml_key(key)]
            lines.append("")
            lines.append(f"[{'.'.join(sub)}]  # a table")
            _emit_table(lines, sub, value)
        elif _is_table_array(value):
            sub = [*path, toml_key(key)]
            for item in value:
                lines.append("")
                lines.append(f"[[{'.'.join(sub)}]]")
                # Inside an array-of-tables entry, nested dicts go inline to keep it simple.
                for k, v in item.items():
                    lines.append(f"{toml_key(k)} = {toml_value(v)}")


def to_toml(data: dict[str, Any]) -> str:
    lines = ["# written by tests/config/writers.py"]
    _emit_table(lines, [], data)
    return "\n".join(lines) + "\n"


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def to_jsonc(data: dict[str, Any]) -> str:
    """``json.dumps`` output with comments everywhere and a trailing comma in every
    non-empty object and array."""
    out = ['// wrangler.jsonc written by the tests: "quotes" and // slashes in a comment']
    lines = json.dumps(data, indent=2, ensure_ascii=False).split("\n")
    for i, line in enumerate(lines):
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        closes_next = nxt.startswith(("}", "]"))
        opens = line.rstrip().endswith(("{", "["))
        if closes_next and not opens:
            line += ","  # trailing comma
        if i % 3 == 0:
            line += '  // line comment with a "string" and http://example.com'
        elif i % 3 == 1:
            line = line + " /* block\n   comment */"
        out.append(line)
    return "\n".join(out) + "\n"


def write_config(folder: Path, data: dict[str, Any], fmt: str) -> Path:
    """Write ``data`` as ``wrangler.<fmt>`` (toml, json or jsonc) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    text = {"toml": to_toml, "json": to_json, "jsonc": to_jsonc}[fmt](data)
    path = folder / f"wrangler.{fmt}"
    path.write_text(text, encoding="utf-8")
    return path
