"""Checks of ``env.AI.run`` inputs against a catalogue model's input schema.

Workers AI validates inputs with a JSON-Schema validator and answers a mismatch with
internal code 5006 (spec: kv-assets-workflows-ai.md §4.6): the REST envelope's message reads
``AiError: Bad input: Error: <reason>``, the reason naming a JSON pointer, e.g. ``required
properties at '/' are 'text'``. cfemu raises ``InferenceUpstreamError("5006: AiError: Bad
input: Error: <reason>")`` with reasons in that style; the wording of reasons other than
``required properties`` and ``Type mismatch`` is cfemu's (unconfirmed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cfemu.errors import InferenceUpstreamError

__all__ = ["BAD_INPUT_PREFIX", "bad_input", "js_type", "validate"]

#: What every 5006 message of a schema mismatch starts with.
BAD_INPUT_PREFIX = "5006: AiError: Bad input: Error: "


def bad_input(reason: str) -> InferenceUpstreamError:
    """The error Workers AI raises for inputs that do not match the schema."""
    return InferenceUpstreamError(BAD_INPUT_PREFIX + reason)


def js_type(value: object) -> str:
    """The JSON-Schema type name of ``value`` (``integer`` for whole numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _type_ok(value: object, expected: str) -> bool:
    actual = js_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _problem(value: object, schema: Mapping[str, Any], path: str) -> str | None:
    """The first reason ``value`` fails ``schema`` at ``path``, or ``None``."""
    alternatives = schema.get("anyOf")
    if alternatives is not None:
        reasons = [_problem(value, option, path) for option in alternatives]
        if all(reasons):
            return f"anyOf at '{path}' not met, 0 matches: " + ", ".join(r for r in reasons if r)
        return None
    expected = schema.get("type")
    if expected is not None and not _type_ok(value, expected):
        return f"Type mismatch of '{path}', '{js_type(value)}' not in '{expected}'"
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        allowed = ", ".join(repr(v) for v in enum)
        return f"'{path}' must be one of {allowed}, got {value!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"'{path}' must be >= {schema['minimum']}, got {value!r}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"'{path}' must be <= {schema['maximum']}, got {value!r}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"'{path}' must NOT have fewer than {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"'{path}' must NOT have more than {schema['maxLength']} characters"
    if isinstance(value, list):
        return _array_problem(value, schema, path)
    if isinstance(value, Mapping):
        return _object_problem(value, schema, path)
    return None


def _array_problem(value: list[Any], schema: Mapping[str, Any], path: str) -> str | None:
    if len(value) < schema.get("minItems", 0):
        return f"'{path}' must NOT have fewer than {schema['minItems']} items"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return f"'{path}' must NOT have more than {schema['maxItems']} items"
    items = schema.get("items")
    if items is None:
        return None
    prefix = path.rstrip("/")
    if items.get("type") == "integer" and set(items) <= {"type", "minimum", "maximum"}:
        # byte arrays (images, audio) can be long: one pass, no recursion per item
        lo, hi = items.get("minimum"), items.get("maximum")
        for index, item in enumerate(value):
            if (
                isinstance(item, bool)
                or not isinstance(item, int)
                or (lo is not None and item < lo)
                or (hi is not None and item > hi)
            ):
                return _problem(item, items, f"{prefix}/{index}")
        return None
    for index, item in enumerate(value):
        problem = _problem(item, items, f"{prefix}/{index}")
        if problem:
            return problem
    return None


def _object_problem(value: Mapping[str, Any], schema: Mapping[str, Any], path: str) -> str | None:
    missing = [name for name in schema.get("required", ()) if name not in value]
    if missing:
        return f"required properties at '{path}' are " + ", ".join(f"'{m}'" for m in missing)
    prefix = path.rstrip("/")
    for name, sub in schema.get("properties", {}).items():
        if name in value and value[name] is not None:
            problem = _problem(value[name], sub, f"{prefix}/{name}")
            if problem:
                return problem
    return None


def validate(inputs: object, schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return ``inputs`` if they match ``schema``, else raise the 5006 ``bad_input`` error."""
    if not isinstance(inputs, Mapping):
        raise bad_input(f"Type mismatch of '/', '{js_type(inputs)}' not in 'object'")
    problem = _problem(inputs, schema, "/")
    if problem:
        raise bad_input(problem)
    return inputs
