"""The lean request path answers exactly what the general one does (issue 20's request path).

:func:`cfemu.runtime._wire.received` and :func:`~cfemu.runtime._wire.lean_url` against the
general path (decode every header, ``Headers`` validating each pair, ``url_of``,
``_framing``) on random headers and targets; ``Response("text")``'s shortcut against the
general constructor; ``_framed`` with its remembered pairs against a fresh encoding.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfemu.runtime import _wire
from cfemu.runtime._scope import DispatchState
from cfemu.runtime.env import Env
from cfemu.runtime.frontend import BadRequestError
from cfemu.runtime.headers import Headers, decode_header
from cfemu.runtime.http import Response
from cfemu.runtime.transport import _framed, _framing

_NAMES = st.sampled_from(
    [b"host", b"Host", b"content-length", b"transfer-encoding", b"x-a", b"User-Agent", b"bad name",
     b"x\xff", b""]
)  # fmt: skip
_VALUES = st.one_of(
    st.sampled_from(
        [b"example.com", b" example.com:8080 ", b"EXAMPLE.com:80", b"[::1]:8787", b"a b",
         b"0", b" 0", b"12", b"x", b"chunked", b"caf\xc3\xa9", b"\xff\xfe", b"a\x00b",
         b"a\rb", b"host/with/slash", b"h:99999", b""]
    ),
    st.binary(max_size=12),
)  # fmt: skip
_HEADERS = st.lists(st.tuples(_NAMES, _VALUES), max_size=6)
_TARGETS = st.sampled_from([b"/", b"/a/b", b"/%20x", b"http://other.example/p", b"*", b"?q"])


def _general(scope: dict[str, Any]) -> tuple[Any, ...]:
    """What the general path makes of ``scope``: (headers or the TypeError's message, url or
    the BadRequestError's message, Content-Length, chunked)."""
    decoded = [(k.decode("latin-1"), decode_header(v)) for k, v in scope["headers"]]
    try:
        pairs: Any = Headers(list(decoded)).items()
    except TypeError as exc:
        pairs = str(exc)
    try:
        url = _wire.url_of(scope, decoded, False)
    except BadRequestError as exc:
        url = f"400 {exc}"
    return (pairs, url, *_framing(decoded))


def _scope(headers: list[tuple[bytes, bytes]], target: bytes, query: bytes, server: Any) -> Any:
    return {
        "type": "http",
        "scheme": "http",
        "method": "GET",
        "path": target.decode("latin-1"),
        "raw_path": target,
        "query_string": query,
        "server": server,
        "headers": headers,
    }


@given(
    _HEADERS,
    _TARGETS,
    st.sampled_from([b"", b"a=1", b"x=%FF"]),
    st.sampled_from([("127.0.0.1", 8787), ("::1", 80), None]),
)
def test_the_lean_path_answers_as_the_general_path(
    headers: list[tuple[bytes, bytes]], target: bytes, query: bytes, server: Any
) -> None:
    scope = _scope(headers, target, query, server)
    expected = _general(scope)
    for _ in range(2):  # the second time from what the first remembered
        lean = _wire.received(scope["headers"])
        if lean is None:  # a header no Worker may receive: the general path answers 400
            assert isinstance(expected[0], str)
            continue
        pairs, hosts, length, chunked = lean
        try:
            url = _wire.lean_url(scope, hosts)
        except BadRequestError as exc:
            url = f"400 {exc}"
        assert (pairs, url, length, chunked) == expected


@given(
    st.text(max_size=8),
    st.one_of(st.none(), st.integers(0, 700), st.sampled_from(list(HTTPStatus))),
    st.sampled_from(["", "Fine"]),
)
def test_response_of_text_is_what_the_general_constructor_makes(
    body: str, status: Any, status_text: str
) -> None:
    def make(**headers: Any) -> Any:
        try:
            r = Response(body, status, status_text, **headers)
        except (TypeError, ValueError) as exc:
            return type(exc), str(exc)
        return r.status, r.status_text, r.headers.items(), r.raw_body(), r.url, r.redirected

    # headers={} takes the general path; headers=None the shortcut where it applies
    assert make() == make(headers={})


def test_framed_remembers_pairs_but_still_drops_hop_headers_and_encodes_utf8() -> None:
    response = Response(
        "ok",
        headers={"x-a": "café", "connection": "keep-alive", "content-length": "99"},
    )
    expected = [
        (b"x-a", "café".encode()),
        (b"content-type", b"text/plain;charset=UTF-8"),
        (b"content-length", b"2"),
    ]
    assert _framed("GET", response) == (expected, b"ok")
    assert _framed("GET", response) == (expected, b"ok")  # from the remembered pairs
    assert _framed("HEAD", response) == (expected, b"")


@pytest.mark.parametrize("status", [204, 304])
def test_framed_null_body_statuses_carry_no_length(status: int) -> None:
    assert _framed("GET", Response(None, status)) == ([], b"")


def test_dispatch_state_compares_by_value_and_with_env_copies() -> None:
    env, other = Env({"A": "1"}), Env({"A": "2"})
    a = DispatchState("w", env, None)  # type: ignore[arg-type]
    assert a == DispatchState("w", env, None)  # type: ignore[arg-type]
    b = a.with_env(other)
    assert (b.env, a.env, b.worker_name) == (other, env, "w")


def test_a_remembered_header_list_gives_each_request_pairs_of_its_own() -> None:
    raw = [(b"host", b"example.com"), (b"x-remembered", b"1")]
    first = _wire.received(raw)
    second = _wire.received([(b"host", b"example.com"), (b"x-remembered", b"1")])
    assert first is not None and second is not None
    assert second[0] == first[0] == [("host", "example.com"), ("x-remembered", "1")]
    first[0].append(("x-added", "by the first request's Headers"))
    third = _wire.received(raw)
    assert third is not None and third[0] == second[0] and third[0] is not second[0]
    assert list(third[1]) == [b"example.com"]


def test_header_lists_that_are_not_bytes_pairs_are_still_answered() -> None:
    as_lists: Any = [[b"host", b"example.com"]]
    answer = _wire.received(as_lists)
    assert answer is not None and answer[0] == [("host", "example.com")]
    assert _wire.received([(b"bad header", b"x")]) is None  # the general path words the 400
