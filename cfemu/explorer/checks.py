"""Request checks worded as Cloudflare's local explorer words them.

Cloudflare's explorer validates a route's query and JSON body against its OpenAPI schemas
before the route runs: a failure is a 400 with one error per problem, code 10001, message
``<path>: <problem>`` in zod's words (``limit: Too small: expected number to be >=10``,
``action: Invalid option: expected one of "pause"|"resume"|...``; a body matching neither
shape of a union is ``Invalid input``). A JSON body that does not parse is a 500 with code
10000 (``Malformed JSON in request body``), and a body sent without a JSON content type is
read as ``{}``. These helpers reproduce that for the routes cfemu shares with it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any, Final

import orjson

from cfemu.api._http import ApiError, ApiRequest

__all__ = [
    "MISSING",
    "Issues",
    "json_body",
    "query_enum",
    "query_number",
    "raise_issues",
]

#: A key absent from a body (zod's ``undefined``), as opposed to JSON ``null``.
MISSING: Final = object()
_JSON_TYPE: Final = re.compile(r"^application/([a-z.-]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$")


class Issues(list[str]):
    """The problems found in one request, each ``<path>: <message>``."""

    def add(self, path: str, message: str) -> None:
        """``<path>: <message>`` (the message alone for the body itself)."""
        self.append(f"{path}: {message}" if path else message)

    def type(self, path: str, expected: str, value: Any) -> None:
        """``Invalid input: expected <type>, received <type>``."""
        self.add(path, f"Invalid input: expected {expected}, received {received(value)}")

    def option(self, path: str, options: Sequence[str]) -> None:
        """``Invalid option: expected one of "a"|"b"``."""
        self.add(path, "Invalid option: expected one of " + "|".join(map(json.dumps, options)))

    def size(
        self,
        path: str,
        kind: str,
        value: float,
        *,
        low: float | None,
        high: float | None,
        unit: str = "",
    ) -> None:
        """``Too small`` / ``Too big`` for a number (``unit`` empty) or a length."""
        what = f" {unit}" if unit else ""
        verb = "have" if unit else "be"
        if low is not None and value < low:
            self.add(path, f"Too small: expected {kind} to {verb} >={_num(low)}{what}")
        if high is not None and value > high:
            self.add(path, f"Too big: expected {kind} to {verb} <={_num(high)}{what}")

    def array_field(self, body: Any, field: str) -> list[Any] | None:
        """The array under ``field`` of an object body; ``None``, with the issue noted, when
        the body is not an object or ``field`` not an array."""
        if not isinstance(body, dict):
            self.type("", "object", body)
            return None
        found = body.get(field, MISSING)
        if not isinstance(found, list):
            self.type(field, "array", found)
            return None
        return found


def received(value: Any) -> str:
    """The type zod names for a parsed JSON value (``MISSING``: undefined)."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def raise_issues(issues: Sequence[str]) -> None:
    """Answer 400 with one error (code 10001) per problem, when there are any."""
    if issues:
        raise ApiError(400, 10001, issues[0], more=list(issues[1:]))


def json_body(request: ApiRequest) -> Any:
    """The JSON body as Cloudflare's explorer reads it for validation: ``{}`` unless the
    content type is JSON; a body that does not parse is a 500 (code 10000)."""
    content_type = request.headers.get("content-type", "")
    if not _JSON_TYPE.match(content_type.strip()):
        return {}
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise ApiError(500, 10000, "Malformed JSON in request body") from None


def query_number(
    request: ApiRequest,
    issues: Issues,
    name: str,
    default: int,
    *,
    low: int | None = None,
    high: int | None = None,
) -> int:
    """A number query parameter, checked as Cloudflare's explorer checks it (problems go
    to ``issues``; the default is returned then)."""
    raw = request.query_value(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip()) if raw.strip() else 0.0  # JavaScript's Number("") is 0
    except ValueError:
        value = math.nan
    if math.isnan(value):
        issues.add(name, f'Expected query param to be number but received "{raw}"')
        return default
    before = len(issues)
    issues.size(name, "number", value, low=low, high=high)
    if len(issues) > before:
        return default
    return int(value) if value.is_integer() else math.ceil(value)


def query_enum(
    request: ApiRequest, issues: Issues, name: str, options: Sequence[str]
) -> str | None:
    """An enumerated query parameter (``None`` when absent or wrong)."""
    raw = request.query_value(name)
    if raw is None:
        return None
    if raw not in options:
        issues.option(name, options)
        return None
    return raw
