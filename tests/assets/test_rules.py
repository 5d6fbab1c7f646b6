"""``_redirects`` and ``_headers``: syntax, limits, matching, and their place in the pipeline."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cfemu.assets.rules import UrlPattern, parse_headers, parse_redirects
from tests.assets.conftest import MakeSite, get


def test_redirect_rules_answer_before_assets_and_keep_the_query(make_site: MakeSite) -> None:
    site = make_site(
        {
            "_redirects": (
                "# comment\n"
                "/old /new.html 301\n"
                "/exists /elsewhere   # a trailing comment\n"
                "/blog/* /posts/:splat 308\n"
                "/users/:id/profile /u/:id?tab=p 303\n"
                "https://example.com/abs /from-host\n"
                "/away https://other.example/x\n"
            ),
            "exists.html": "shadowed",
        }
    )
    cases = {
        "/old?a=1": (301, "/new.html?a=1"),
        "/exists": (302, "/elsewhere"),  # a redirect applies even where an asset exists
        "/blog/2024/post": (308, "/posts/2024/post"),
        "/users/7/profile?x=1": (303, "/u/7?tab=p"),  # the destination's query wins
        "/abs": (302, "/from-host"),
        "/away": (302, "https://other.example/x"),
    }
    for path, (status, location) in cases.items():
        response = get(site, path)
        assert (response.status, response._headers.get("location")) == (status, location), path


def test_a_200_rule_rewrites_without_chaining(make_site: MakeSite) -> None:
    site = make_site(
        {
            "_redirects": "/a /b 200\n/b /c 200\n/app/* /app.html 200\n",
            "b": "B",
            "c": "C",
            "app.html": "APP",
        }
    )
    assert get(site, "/a").raw_body() == b"B"
    assert get(site, "/app/deep/link").raw_body() == b"APP"
    assert get(site, "/app/deep/link").status == 200


def test_bad_redirect_lines_are_skipped_with_cloudflares_warnings() -> None:
    parsed = parse_redirects(
        "/a /b 404\n/c /d /e /f\n/p https://x.example 200\n/* /index.html\n"
        "/dir/ /dir/index.html\n/ok /fine\n/ok /again\n"
    )
    assert list(parsed.static) == ["/ok"]
    text = "\n".join(parsed.warnings)
    assert "Valid status codes are 200, 301, 302 (default), 303, 307, or 308. Got 404." in text
    assert "Expected exactly 2 or 3 whitespace-separated tokens. Got 4." in text
    assert "Proxy (200) redirects can only point to relative paths. Got https://x.example" in text
    assert text.count("Infinite loop detected") == 2
    assert "Ignoring duplicate rule for path /ok." in text
    assert len(parse_redirects("/dir/ /dir/index.html\n", html_handling="none").static) == 1


def test_dynamic_rule_limit_skips_the_rest_of_the_file() -> None:
    lines = [f"/d{i}/* /x" for i in range(101)] + ["/static /y"]
    parsed = parse_redirects("\n".join(lines))
    assert len(parsed.dynamic) == 100 and not parsed.static
    assert "Maximum number of dynamic rules supported is 100" in parsed.warnings[-1]


def test_headers_rules_apply_in_order_to_assets_redirects_and_404s(make_site: MakeSite) -> None:
    site = make_site(
        {
            "_headers": (
                "/*\n"
                "  X-Frame-Options: DENY\n"
                "  X-Tag: all\n"
                "/docs/:page\n"
                "  X-Tag: docs-:page\n"
                "  ! Cache-Control\n"
                "  Link: </a>\n"
                "  Link: </b>\n"
            ),
            "_redirects": "/go /docs/x 302\n",
            "docs/x": "X",
        }
    )
    page = get(site, "/docs/x")
    assert page._headers.get("x-frame-options") == "DENY"
    assert page._headers.get("x-tag") == "all, docs-x"  # a later rule appends
    assert page._headers.get("link") == "</a>, </b>"  # repeated in one block: joined
    assert not page._headers.has("cache-control")
    assert get(site, "/go")._headers.get("x-tag") == "all"
    missing = get(site, "/nope")
    assert (missing.status, missing._headers.get("x-frame-options")) == (404, "DENY")


def test_headers_rule_replaces_a_default_header(make_site: MakeSite) -> None:
    site = make_site({"_headers": "/a.txt\n  Content-Type: text/x-custom\n", "a.txt": "a"})
    pairs = list(get(site, "/a.txt")._headers.items())
    assert [v for k, v in pairs if k == "content-type"] == ["text/x-custom"]


def test_bad_header_lines_are_skipped() -> None:
    parsed = parse_headers("  X-Orphan: 1\n/a\n  Bad Name: 1\n  Empty:\n  NoColon\n  Ok: 1\n")
    assert [r.set for r in parsed.rules] == [{"ok": "1"}]
    assert len(parsed.warnings) == 4


@given(st.text(max_size=300))
def test_redirects_parser_never_raises_and_respects_limits(text: str) -> None:
    parsed = parse_redirects(text)
    assert len(parsed.static) <= 2000 and len(parsed.dynamic) <= 100
    for rule in [*parsed.static.values(), *parsed.dynamic]:
        assert rule.status in (200, 301, 302, 303, 307, 308)


@given(st.text(max_size=300))
def test_headers_parser_never_raises(text: str) -> None:
    parsed = parse_headers(text)
    assert len(parsed.rules) <= 100
    for rule in parsed.rules:
        assert all(name == name.lower() and value for name, value in rule.set.items())


@given(
    st.lists(st.text(alphabet="ab-", min_size=1, max_size=4), min_size=1, max_size=4),
    st.text(alphabet="ab-/", max_size=8),
)
def test_splat_and_placeholders_capture_what_they_match(segments: list[str], rest: str) -> None:
    path = "/" + "/".join(segments) + "/" + rest
    captures = UrlPattern("/:first/*").match("h", path)
    assert captures == {"first": segments[0], "splat": path[len(segments[0]) + 2 :]}
