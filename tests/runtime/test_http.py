"""Request, Response, Headers and the body types behave like the Python Workers SDK's."""

from __future__ import annotations

import http.client
from http import HTTPMethod, HTTPStatus
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfemu.clock import VirtualClock
from cfemu.runtime import Blob, File, FormData, Headers, Request, Response
from cfemu.runtime._scope import DispatchState, current
from cfemu.runtime.body import decode_form, encode_form
from cfemu.runtime.env import Env

pytestmark = pytest.mark.anyio


# --- Response ------------------------------------------------------------------------------
async def test_str_response_defaults() -> None:
    response = Response("héllo")
    assert (response.status, response.status_text, response.ok) == (200, "", True)
    assert response.headers["content-type"] == "text/plain;charset=UTF-8"
    assert isinstance(response.headers, http.client.HTTPMessage)
    assert await response.text() == "héllo"


async def test_bytes_response_has_no_content_type_and_reads_as_bytes() -> None:
    response = Response(b"\x00\xff", status=HTTPStatus.CREATED, headers=[("X-A", "1")])
    assert response.status == 201
    assert "content-type" not in response.headers
    assert response.headers["x-a"] == "1"
    buffer = await response.clone().buffer()
    assert buffer.to_bytes() == b"\x00\xff" and buffer.byteLength == 2
    assert await response.bytes() == b"\x00\xff"


@pytest.mark.parametrize(
    ("body", "type_name"), [(123, "int"), ({"a": 1}, "dict"), (Blob(["x"]), "Blob")]
)
def test_unsupported_body_types_raise_like_the_sdk(body: Any, type_name: str) -> None:
    with pytest.raises(TypeError, match=rf"^Unsupported type in Response: {type_name}$"):
        Response(body)


async def test_response_json_builds_and_instance_json_reads() -> None:
    response = Response.json({"ok": True, "n": [1, 2]}, status=201, headers={"x-id": "7"})
    assert response.status == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-id"] == "7"
    assert await response.json() == {"ok": True, "n": [1, 2]}
    same = Response.from_json([1], headers={"Content-Type": "application/vnd.x+json"})
    assert same.headers["content-type"] == "application/vnd.x+json"


async def test_reading_a_body_twice_raises_body_already_used() -> None:
    response = Response("once")
    assert not response.body_used
    await response.text()
    assert response.body_used
    with pytest.raises(OSError, match=r"^Body already used$"):
        await response.text()
    with pytest.raises(OSError, match=r"^Body already used$"):
        response.clone()


async def test_empty_body_can_be_read_repeatedly() -> None:
    response = Response(None, status=204)
    assert await response.text() == "" and await response.bytes() == b""
    assert not response.body_used


def test_redirect() -> None:
    response = Response.redirect("https://example.com/next", 301)
    assert response.status == 301
    assert response.headers["location"] == "https://example.com/next"
    assert Response.redirect("/x").status == 302
    with pytest.raises(ValueError, match="Invalid redirect status: 200"):
        Response.redirect("/x", 200)


def test_status_out_of_range_and_null_body_statuses() -> None:
    with pytest.raises(ValueError, match="range 200 to 599"):
        Response("x", status=99)
    with pytest.raises(ValueError, match="range 200 to 599"):
        Response("x", status=600)
    with pytest.raises(TypeError, match=r"null body status \(204\)"):
        Response("x", status=204)


def test_headers_argument_types() -> None:
    with pytest.raises(TypeError, match="unexpected type for headers"):
        Response("x", headers="a: b")  # type: ignore[arg-type]
    js_headers = Headers({"A": "1"})
    js_headers.append("set-cookie", "a=1")
    js_headers.append("Set-Cookie", "b=2")
    response = Response("x", headers=js_headers)
    assert response.headers.get_all("set-cookie") == ["a=1", "b=2"]
    assert js_headers.get("SET-COOKIE") == "a=1, b=2"
    assert js_headers.getSetCookie() == ["a=1", "b=2"]


async def test_replace_body_keeps_status_and_headers() -> None:
    original = Response("old", status=418, headers={"x-keep": "yes"})
    replaced = original.replace_body(b"new")
    assert (replaced.status, replaced.headers["x-keep"]) == (418, "yes")
    assert await replaced.bytes() == b"new"


async def test_formdata_response_round_trips() -> None:
    form = FormData({"name": "Ada"})
    form.append("file", File([b"\x00\x01"], "a.bin", "application/octet-stream"))
    response = Response(form)
    assert response.headers["content-type"].startswith("multipart/form-data; boundary=")
    parsed = await response.form_data()
    assert parsed["name"] == "Ada"
    upload = parsed["file"]
    assert isinstance(upload, File)
    assert (upload.name, upload.content_type, await upload.bytes()) == (
        "a.bin",
        "application/octet-stream",
        b"\x00\x01",
    )


def test_raise_for_status() -> None:
    Response("fine").raise_for_status()
    with pytest.raises(OSError, match="404 Client Error"):
        Response("missing", status=404).raise_for_status()


# --- Request -------------------------------------------------------------------------------
async def test_request_properties_and_json() -> None:
    request = Request(
        "https://example.com/api?q=1",
        method="post",
        headers={"Content-Type": "application/json"},
        body='{"name": "cfemu"}',
    )
    assert request.method == HTTPMethod.POST and request.method == "POST"
    assert request.url == "https://example.com/api?q=1"
    assert request.cf is None
    assert request.headers["content-type"] == "application/json"
    copy = request.clone()
    assert await request.json() == {"name": "cfemu"}
    assert request.body_used and not copy.body_used
    with pytest.raises(OSError, match=r"^Body already used$"):
        await request.text()
    with pytest.raises(OSError, match=r"^Body already used$"):
        request.clone()
    assert await copy.text() == '{"name": "cfemu"}'


def test_request_repeated_headers_are_kept() -> None:
    request = Request.incoming("GET", "http://w/", [("Accept", "a"), ("accept", "b")], None)
    assert request.headers.get_all("accept") == ["a", "b"]


def test_request_cf_and_unusual_methods() -> None:
    request = Request("http://w/", method="PURGE", cf={"colo": "LHR"})
    assert request.method == "PURGE"
    assert request.cf is not None and request.cf.colo == "LHR"


def test_get_requests_cannot_have_a_body() -> None:
    with pytest.raises(TypeError, match="GET or HEAD method cannot have a body"):
        Request("http://w/", body="x")


async def test_urlencoded_form_data() -> None:
    request = Request(
        "http://w/",
        method="POST",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body="a=1&a=2&b=",
    )
    form = await request.form_data()
    assert form.get_all("a") == ["1", "2"] and form["b"] == ""


async def test_form_data_of_other_content_types_is_a_type_error() -> None:
    request = Request("http://w/", method="POST", body="{}")
    with pytest.raises(TypeError, match="Unrecognized Content-Type header value"):
        await request.form_data()


# --- FormData, Blob, File ---------------------------------------------------------------
def test_formdata_mapping_semantics() -> None:
    form = FormData()
    form.append("k", "1")
    form.append("k", "2")
    form["other"] = "x"
    assert form["k"] == "1" and form.get_all("k") == ["1", "2"] and len(form) == 3
    form["k"] = "3"
    assert form.get_all("k") == ["3"]
    del form["k"]
    assert "k" not in form
    with pytest.raises(KeyError):
        form["k"]
    with pytest.raises(TypeError, match="single item"):
        form["k"] = ["a", "b"]  # type: ignore[assignment]


async def test_blob_and_file() -> None:
    blob = Blob(["ab", b"cd", Blob([b"ef"])], content_type="Text/Plain")
    assert (blob.size, blob.content_type) == (6, "text/plain")
    assert await blob.text() == "abcdef"
    assert await blob.slice(1, -1).bytes() == b"bcde"
    with pytest.raises(TypeError, match="Don't know how to handle"):
        Blob([1])  # type: ignore[list-item]
    state = DispatchState("w", Env(), VirtualClock(1000.0))
    token = current.set(state)
    try:
        file = File("data", "notes.txt")
    finally:
        current.reset(token)
    assert (file.name, file.last_modified, file.size) == ("notes.txt", 1_000_000, 4)


# "%" is left out of names: the form encoding escapes '"' as "%22", so a literal "%22" in a
# name reads back as '"' (as in browsers; see test_quotes_in_field_names_round_trip).
form_keys = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="%"), max_size=12
)
form_values = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30),
    st.builds(
        lambda data, name: File([data], name or "f", "application/octet-stream"),
        st.binary(max_size=40),
        st.text(st.characters(codec="ascii", exclude_characters="%"), max_size=8),
    ),
)


@given(st.lists(st.tuples(form_keys, form_values), max_size=6))
def test_multipart_encoding_round_trips(entries: list[tuple[str, Any]]) -> None:
    form = FormData()
    for key, value in entries:
        form.append(key, value)
    body, content_type = encode_form(form)
    parsed = decode_form(body, content_type)
    assert parsed.keys() == form.keys()
    for original, back in zip(form.values(), parsed.values(), strict=True):
        if isinstance(original, File):
            assert isinstance(back, File)
            assert (back.name, back._data) == (original.name, original._data)
        else:
            assert back == original


def test_quotes_and_newlines_in_field_names_round_trip() -> None:
    form = FormData({'say "hi"\r\n': "v"})
    form.append("f", File([b"x"], 'a"b.txt'))
    body, content_type = encode_form(form)
    assert b'name="say %22hi%22%0D%0A"' in body
    parsed = decode_form(body, content_type)
    assert parsed.keys() == ['say "hi"\r\n', "f"]
    upload = parsed["f"]
    assert isinstance(upload, File) and upload.name == 'a"b.txt'
