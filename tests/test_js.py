"""JsDict and the JS-view helpers used for Cloudflare's error wording."""

from __future__ import annotations

import pytest

from cfemu import Env, JsDict
from cfemu._js import js_string, js_typeof, to_js_dict


def test_js_dict_allows_key_and_attribute_access_at_every_level() -> None:
    value = to_js_dict({"meta": {"changes": 2}, "results": [{"id": 1}]})
    assert value.meta.changes == 2 and value["meta"]["changes"] == 2
    assert value.results[0].id == 1
    assert isinstance(value, dict) and isinstance(value.results[0], JsDict)
    with pytest.raises(AttributeError, match="nope"):
        _ = value.nope


@pytest.mark.parametrize(
    ("value", "typeof", "string"),
    [
        (None, "object", "null"),
        (True, "boolean", "true"),
        (3, "number", "3"),
        (2.0, "number", "2"),
        (0.5, "number", "0.5"),
        (2**70, "bigint", str(2**70)),
        ("x", "string", "x"),
        ({"a": 1}, "object", "[object Object]"),
        ({1, 2}, "object", "[object Object]"),
    ],
)
def test_js_typeof_and_string_match_javascript(value: object, typeof: str, string: str) -> None:
    assert js_typeof(value) == typeof
    assert js_string(value) == string


def test_env_names_missing_binding_and_lists_existing_ones() -> None:
    env = Env({"DB": object(), "AI_QUEUE": object()})
    assert "DB" in env and len(env) == 2
    with pytest.raises(AttributeError, match=r"'QUEUE'.*AI_QUEUE, DB"):
        _ = env.QUEUE
    with pytest.raises(AttributeError, match="read-only"):
        env.X = 1
