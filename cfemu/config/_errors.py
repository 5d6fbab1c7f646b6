"""Turning pydantic's validation errors into :class:`~cfemu.errors.ConfigError`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cfemu.config._types import describe
from cfemu.errors import ConfigError

__all__ = ["Prefix", "config_error_from", "format_key_path"]

_BARE_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")
_MAX_EXTRA_PROBLEMS = 3

Prefix = Callable[[str], str]
"""Maps a top-level key to the key-path prefix of its section (``""`` or ``env.staging.``)."""


def format_key_path(loc: Sequence[str | int]) -> str:
    """``("queues", "consumers", 0, "max_batch_size")`` → ``queues.consumers[0].max_batch_size``.

    Keys that are not plain identifiers are quoted: ``vars["a.b"]``.
    """
    out = ""
    for item in loc:
        if isinstance(item, int):
            out += f"[{item}]"
        elif _BARE_KEY.fullmatch(item):
            out += f".{item}" if out else item
        else:
            out += f"[{json.dumps(item, ensure_ascii=False)}]"
    return out


def _message(error: Any) -> str:
    kind = error["type"]
    got = describe(error.get("input"))
    if kind == "cfemu":
        return str(error["ctx"]["message"])
    if kind == "missing":
        return "is required"
    if kind in ("string_type", "string_sub_type"):
        return f"must be a string, got {got}"
    if kind == "bool_type":
        return f"must be true or false, got {got}"
    if kind in ("list_type", "tuple_type"):
        return f"must be an array, got {got}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"must be a table (a JSON object), got {got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number, got {got}"
    if kind == "literal_error":
        return f"must be {error['ctx']['expected']}, got {got}"
    text = str(error.get("msg", "is invalid"))
    return f"{text[:1].lower()}{text[1:]}, got {got}"


def _path(error: Any, prefix: Prefix) -> str:
    loc = [part for part in error["loc"] if isinstance(part, int | str)]
    path = format_key_path(loc)
    if loc and isinstance(loc[0], str):
        path = prefix(loc[0]) + path
    return path


def config_error_from(exc: ValidationError, *, file: Path, prefix: Prefix) -> ConfigError:
    """A :class:`ConfigError` for the first problem in ``exc``, naming up to 3 more."""
    errors = exc.errors()
    first = errors[0]
    message = _message(first)
    rest = errors[1:]
    if rest:
        shown = "; ".join(f"{_path(e, prefix)}: {_message(e)}" for e in rest[:_MAX_EXTRA_PROBLEMS])
        more = len(rest) - _MAX_EXTRA_PROBLEMS
        if more > 0:
            shown += f"; and {more} more"
        message += f" (also: {shown})"
    return ConfigError(message, file=file, key_path=_path(first, prefix))
