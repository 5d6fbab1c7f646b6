"""cfemu's ``js`` module: each JavaScript global, and how its values behave as JsProxies."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cfemu.runtime.js_module as js
from cfemu.errors import NotEmulatedError
from cfemu.runtime import Response as WorkersResponse
from cfemu.runtime.js_module.containers import JsArray, JsBuffer, JsMap
from cfemu.runtime.js_module.proxy import JsException, JsObject, JsProxy, jsnull

pytestmark = pytest.mark.anyio


def test_undefined_is_none_and_null_is_the_falsy_jsnull() -> None:
    assert js.undefined is None
    assert js.null is jsnull
    assert not jsnull
    assert repr(jsnull) == "jsnull"
    assert js.JSON.parse("null") is jsnull


def test_a_name_cfemu_does_not_have_raises_not_emulated_naming_it() -> None:
    with pytest.raises(NotEmulatedError, match=r"js\.HTMLRewriter"):
        js.HTMLRewriter  # noqa: B018
    with pytest.raises(NotEmulatedError, match=r"js\.WebSocketPair"):
        exec("from cfemu.runtime.js_module import WebSocketPair")
    with pytest.raises(AttributeError):  # import machinery and tools probe dunders
        js.__wrapped__  # noqa: B018


def test_console_prints_like_a_workers_print(capsys: pytest.CaptureFixture[str]) -> None:
    js.console.log("hello", 1, 2.5, 3.0, None, True, JsObject(a=1))
    js.console.info("info")
    js.console.debug("debug")
    js.console.warn("careful")
    js.console.error("broken")
    out, err = capsys.readouterr()
    assert out.splitlines() == ['hello 1 2.5 3 undefined true {"a":1}', "info", "debug"]
    assert err.splitlines() == ["careful", "broken"]


async def test_response_new_with_init_or_keyword_options() -> None:
    response = js.Response.new("hi", status=201, headers=JsObject({"X-A": "1"}))
    assert (response.status, response.ok, response.statusText) == (201, True, "")
    assert response.headers.get("x-a") == "1"
    assert response.headers.get("content-type") == "text/plain;charset=UTF-8"
    assert response.headers.get("missing") is jsnull
    assert await response.text() == "hi"
    assert response.bodyUsed
    with pytest.raises(JsException, match="already been used"):
        await response.text()
    init = JsObject(status=404, statusText="Nope")
    missing = js.Response.new(None, init)
    assert (missing.status, missing.statusText, missing.ok, missing.body) == (
        404,
        "Nope",
        False,
        jsnull,
    )
    assert missing.typeof == "object" and missing.constructor.name == "Response"


def test_response_must_be_constructed_with_new_and_a_valid_status() -> None:
    with pytest.raises(JsException, match="Please use the 'new' operator"):
        js.Response("x")
    with pytest.raises(JsException, match=r"^RangeError: .*range 200 to 599.*got 99"):
        js.Response.new("x", status=99)
    with pytest.raises(JsException, match=r"null body status \(204\)"):
        js.Response.new("x", status=204)


async def test_response_json_redirect_and_error() -> None:
    made = js.Response.json(JsObject(a=[1, 2], b=None, c=jsnull))
    assert made.headers.get("content-type") == "application/json"
    assert await made.text() == '{"a":[1,2],"c":null}'
    parsed = await js.Response.json(JsObject(n=1)).json()
    assert isinstance(parsed, JsObject) and parsed.n == 1
    moved = js.Response.redirect("https://example.com/x", 301)
    assert (moved.status, moved.headers.get("location")) == (301, "https://example.com/x")
    with pytest.raises(JsException, match="RangeError"):
        js.Response.redirect("/", 200)
    failed = js.Response.error()
    assert (failed.status, failed.type) == (0, "error")


async def test_workers_response_wraps_a_js_response_as_is() -> None:
    wrapped = WorkersResponse(js.Response.new("body", status=202, headers={"a": "b"}))
    assert (wrapped.status, wrapped.headers["a"]) == (202, "b")
    assert await wrapped.text() == "body"
    with pytest.raises(ValueError, match="Expected no options when constructing Response"):
        WorkersResponse(js.Response.new("body"), status=200)


async def test_workers_response_accepts_javascript_buffers_as_bodies() -> None:
    data = js.Uint8Array.new([104, 105, 300])
    assert await WorkersResponse(data).bytes() == bytes([104, 105, 44])
    assert await WorkersResponse(data.buffer).text() == "hi,"
    form = WorkersResponse(js.URLSearchParams.new("a=1&b=x y"))
    assert form.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert await form.text() == "a=1&b=x%20y"


async def test_request_new_and_its_properties() -> None:
    request = js.Request.new(
        "https://example.com/p?q=1", method="post", body='{"k": 2}', headers={"X-Y": "z"}
    )
    assert (request.method, request.url) == ("POST", "https://example.com/p?q=1")
    assert request.headers.get("x-y") == "z"
    body = await request.json()
    assert body.k == 2
    with pytest.raises(JsException, match="GET or HEAD"):
        js.Request.new("https://example.com/", body="x")
    copy = js.Request.new(js.Request.new("https://a.example/", method="PUT", body="b"))
    assert (copy.method, await copy.text()) == ("PUT", "b")


def test_headers_are_case_insensitive_and_iterate_as_sorted_pairs() -> None:
    headers = js.Headers.new({"B": "2", "a": "1"})
    headers.append("a", "3")
    assert headers.get("A") == "1, 3"
    assert [list(pair) for pair in headers] == [["a", "1, 3"], ["b", "2"]]
    assert headers.has("b") and "b" in headers
    headers.delete("b")
    assert list(headers.keys()) == ["a"]
    assert list(js.Headers.new([["x", "1"], ["x", "2"]]).values()) == ["1, 2"]


def test_url_parts_and_search_params_write_through() -> None:
    url = js.URL.new("HTTPS://Example.com:8443/a/b?x=1&y=2#top")
    assert (url.protocol, url.hostname, url.port, url.host) == (
        "https:",
        "example.com",
        "8443",
        "example.com:8443",
    )
    assert (url.pathname, url.search, url.hash) == ("/a/b", "?x=1&y=2", "#top")
    assert url.searchParams.get("y") == "2" and url.searchParams.get("z") is jsnull
    url.searchParams.set("x", "9")
    url.pathname = "/c"
    assert url.href == "https://example.com:8443/c?y=2&x=9#top"
    assert str(js.URL.new("/rel", "https://h.example/base/")) == "https://h.example/rel"
    assert js.URL.new("https://h.example").pathname == "/"
    with pytest.raises(JsException, match="TypeError: Invalid URL"):
        js.URL.new("not a url")
    assert js.URL.canParse("https://x.example") and not js.URL.canParse("nope")


def test_url_search_params() -> None:
    params = js.URLSearchParams.new("?a=1&a=2&b=")
    assert params.get("a") == "1" and list(params.getAll("a")) == ["1", "2"]
    params.append("c", 3)
    params.delete("b")
    assert params.toString() == "a=1&a=2&c=3"
    assert js.URLSearchParams.new({"k": "v w"}).toString() == "k=v%20w"


def test_object_from_entries_entries_and_keys() -> None:
    obj = js.Object.fromEntries([["a", 1], ("b", [2])])
    assert isinstance(obj, JsObject) and (obj.a, obj.b) == (1, [2])
    assert list(js.Object.keys(obj)) == ["a", "b"]
    assert [list(e) for e in js.Object.entries(obj)] == [["a", 1], ["b", [2]]]
    assert js.Object.fromEntries(js.Map.new([["m", 1]])).m == 1
    assert js.Object.assign(js.Object.new(), obj, {"c": 3}).to_py() == {"a": 1, "b": [2], "c": 3}


def test_json_stringify_and_parse_follow_javascript() -> None:
    assert js.JSON.stringify(JsObject(a=1, u=None, n=jsnull, l=JsArray([1, None]))) == (
        '{"a":1,"n":null,"l":[1,null]}'
    )
    assert js.JSON.stringify(None) is None
    assert js.JSON.stringify(JsObject(a=1), None, 2) == '{\n  "a": 1\n}'
    value = js.JSON.parse('{"x": [1, 2.0, 2.5], "y": {"z": null}}')
    assert value.typeof == "object" and value.y.z is jsnull
    assert value.to_py() == {"x": [1, 2, 2.5], "y": {"z": jsnull}}
    with pytest.raises(JsException, match="SyntaxError"):
        js.JSON.parse("{bad")


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(),
        lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids),
        max_leaves=20,
    )
)
def test_json_parse_then_stringify_round_trips(data: object) -> None:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    assert js.JSON.stringify(js.JSON.parse(text)) == text


def test_date_now_and_new() -> None:
    moment = js.Date.new(1_767_225_600_123)
    assert moment.getTime() == 1_767_225_600_123
    assert moment.toISOString() == "2026-01-01T00:00:00.123Z"
    assert moment.getFullYear() == 2026 and moment.getMonth() == 0 and moment.getDay() == 4
    assert moment.toUTCString() == "Thu, 01 Jan 2026 00:00:00 GMT"
    assert js.Date.new("2026-01-02T00:00:00Z").getTime() == 1_767_312_000_000
    assert isinstance(js.Date.now(), int)
    assert js.Date.UTC(2026, 0, 1) == 1_767_225_600_000


def test_crypto_random_uuid_and_get_random_values() -> None:
    first, second = js.crypto.randomUUID(), js.crypto.randomUUID()
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first
    )
    assert first != second
    array = js.Uint8Array.new(64)
    assert js.crypto.getRandomValues(array) is array
    assert array.to_bytes() != bytes(64)  # 2**-512 chance of a false failure
    with pytest.raises(JsException, match=r"QuotaExceededError: .*\(65537\) exceeds"):
        js.crypto.getRandomValues(js.Uint8Array.new(65537))
    with pytest.raises(NotEmulatedError, match=r"crypto\.subtle"):
        js.crypto.subtle  # noqa: B018


def test_math_returns_integral_numbers_as_int() -> None:
    assert js.Math.floor(2.7) == 2 and isinstance(js.Math.floor(2.7), int)
    assert (js.Math.round(2.5), js.Math.round(-2.5), js.Math.round(-2.6)) == (3, -2, -3)
    assert js.Math.max(1, 5, 3) == 5 and js.Math.max() == float("-inf")
    assert js.Math.sqrt(-1) != js.Math.sqrt(-1)  # NaN
    assert 0 <= js.Math.random() < 1 and pytest.approx(3.14159265) == js.Math.PI


def test_array_from_and_typed_arrays() -> None:
    assert list(js.Array.from_("abc")) == ["a", "b", "c"]
    assert list(js.Array.from_([1, 2], lambda v, i: v * 10 + i)) == [10, 21]
    assert js.Array.isArray(js.Array.of(1)) and not js.Array.isArray([1])
    buffer = js.ArrayBuffer.new(4)
    view = js.Uint8Array.new(buffer)
    view[1] = 255
    assert buffer.byteLength == 4 and js.Uint8Array.new(buffer).to_bytes() == b"\x00\xff\x00\x00"
    assert isinstance(view, JsBuffer) and view.constructor.name == "Uint8Array"
    assert js.ArrayBuffer.isView(view) and not js.ArrayBuffer.isView(buffer)
    copied = js.Uint8Array.new(b"hey")
    assert (copied.to_string(), copied.length, list(copied.subarray(1))) == ("hey", 3, [101, 121])
    assert bytes(copied.to_py()) == b"hey"


def test_js_proxies_behave_like_pyodide_ones() -> None:
    obj = js.Object.new()
    obj.name = "x"
    obj.from_ = 1  # Python keywords take a trailing underscore
    assert hasattr(obj, "name") and not hasattr(obj, "missing")
    assert list(obj.object_keys()) == ["name", "from"]
    assert obj.to_py() == {"name": "x", "from": 1}
    with pytest.raises(TypeError, match="not subscriptable"):
        obj["name"]
    assert str(obj) == "[object Object]" and obj == obj and obj != js.Object.new()
    assert js.fetch.typeof == "function" and isinstance(js.fetch, JsProxy)
    assert js.Map.new([["k", 1]]).to_py() == {"k": 1}
    assert js.Set.new([1, 1, 2]).to_py() == {1, 2}
    assert isinstance(js.Map.new(), JsMap)
    error = js.Error.new("boom")
    assert (str(error), error.name, error.message) == ("Error: boom", "Error", "boom")
    with pytest.raises(JsException, match="is not a constructor"):
        js.fetch.new()


async def test_promises_resolve_reject_and_chain() -> None:
    assert await js.Promise.resolve(3) == 3
    doubled = js.Promise.resolve(2).then(lambda v: v * 2)
    assert await doubled == 4 and await doubled == 4
    recovered = js.Promise.reject(js.Error.new("no")).catch(lambda e: e.message)
    assert await recovered == "no"
    assert list(await js.Promise.all([js.Promise.resolve(1), 2])) == [1, 2]
    made = js.Promise.new(lambda resolve, reject: resolve("done"))
    assert await made == "done"


async def test_a_responses_body_and_headers_build_another_response() -> None:
    original = WorkersResponse(
        "page", headers=[("X-Old", "1"), ("Set-Cookie", "a"), ("Set-Cookie", "b")]
    )
    headers = original.headers
    assert isinstance(headers, Mapping) and dict(headers)["x-old"] == "1"
    del headers["x-old"]
    headers["x-new"] = "2"
    copy = WorkersResponse(original.body, headers=headers)
    assert await copy.text() == "page"
    assert copy.headers.get_all("set-cookie") == ["a", "b"] and "x-old" not in copy.headers
    assert WorkersResponse(None).body is None
    from_js = WorkersResponse("x", headers=js.Headers.new({"A": "b"}))
    assert from_js.headers["a"] == "b"
    js_headers = js.Headers.new(headers)
    assert js_headers["x-new"] == "2" and js_headers["missing"] is jsnull
    js_headers["x-new"] = "3"
    del js_headers["set-cookie"]
    assert list(js_headers.keys()) == ["content-type", "x-new"]
