"""The asset pipeline: headers, ETags and 304s, methods, encodings, ignored files."""

from __future__ import annotations

import pytest

from cfemu.assets import content_type_of
from cfemu.errors import ConfigError
from tests.assets.conftest import MakeSite, get


def test_asset_response_carries_etag_type_and_cache_control(make_site: MakeSite) -> None:
    site = make_site({"a.css": "body{}", "b.css": "p{}"})
    first, second = get(site, "/a.css"), get(site, "/b.css")
    assert first.status == 200 and first.raw_body() == b"body{}"
    assert first._headers.get("content-type") == "text/css; charset=utf-8"
    assert first._headers.get("cache-control") == "public, max-age=0, must-revalidate"
    etag = first._headers.get("etag")
    assert etag is not None and etag.startswith('"') and etag.endswith('"')
    assert etag != second._headers.get("etag")  # a hash of the contents
    assert get(site, "/a.css", authorization="x")._headers.get("cache-control") is None
    assert get(site, "/a.css", range="bytes=0-1")._headers.get("cache-control") is None


def test_if_none_match_with_the_exact_etag_is_a_304(make_site: MakeSite) -> None:
    site = make_site({"a.txt": "hello"})
    etag = get(site, "/a.txt")._headers.get("etag")
    assert etag is not None
    for sent in (etag, f"W/{etag}"):
        not_modified = get(site, "/a.txt", if_none_match=sent)
        assert (not_modified.status, not_modified.raw_body()) == (304, None)
        assert not_modified._headers.get("etag") == etag
    assert get(site, "/a.txt", if_none_match='"other"').status == 200
    assert get(site, "/a.txt", if_none_match=f'{etag}, "x"').status == 200  # no list parsing


def test_an_edited_file_gets_a_new_etag(make_site: MakeSite) -> None:
    site = make_site({"a.txt": "one"})
    before = get(site, "/a.txt")._headers.get("etag")
    (site.manifest.directory / "a.txt").write_text("two, longer")
    after = get(site, "/a.txt")
    assert after.raw_body() == b"two, longer" and after._headers.get("etag") != before


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.html", "text/html; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.json", "application/json"),
        ("a.png", "image/png"),
        ("a.svg", "image/svg+xml"),
        ("a.woff2", "font/woff2"),
        ("a.wasm", "application/wasm"),
        ("a.TXT", "text/plain; charset=utf-8"),
        ("noext", None),
        ("a.unknownext", None),
    ],
)
def test_content_types_follow_the_extension(name: str, expected: str | None) -> None:
    assert content_type_of(name) == expected


def test_unknown_extension_has_no_content_type_header(make_site: MakeSite) -> None:
    response = get(make_site({"bin": b"\x00"}), "/bin")
    assert response.status == 200 and not response._headers.has("content-type")


def test_other_methods_get_405_and_head_gets_headers(make_site: MakeSite) -> None:
    site = make_site({"a.txt": "x"})
    assert get(site, "/a.txt", method="POST").status == 405
    assert get(site, "/missing", method="POST").status == 404
    assert get(site, "/a.txt", method="HEAD").status == 200


def test_non_canonical_encoding_redirects_to_the_encoded_path(make_site: MakeSite) -> None:
    site = make_site({"[x].txt": "bracket", "a b.txt": "space"})
    moved = get(site, "/[x].txt?k=v")
    assert (moved.status, moved._headers.get("location")) == (307, "/%5Bx%5D.txt?k=v")
    assert get(site, "/%5Bx%5D.txt").raw_body() == b"bracket"
    assert get(site, "/a%20b.txt").raw_body() == b"space"
    assert get(site, "//a%20b.txt").status == 307  # repeated slashes collapse


def test_special_files_and_assetsignore_are_never_served(make_site: MakeSite) -> None:
    site = make_site(
        {
            "_headers": "/*\n  x-a: 1\n",
            "_redirects": "/old /new 301\n",
            ".assetsignore": "*.secret\n/private/\n!keep.secret\n",
            "a.secret": "no",
            "keep.secret": "yes",
            "private/x.txt": "no",
            "public/private/y.txt": "yes",
            "sub/_headers": "served: only the root's are special",
        }
    )
    assert set(site.manifest.files) == {"/keep.secret", "/public/private/y.txt", "/sub/_headers"}
    assert get(site, "/_headers").status == 404
    assert get(site, "/.assetsignore").status == 404


def test_symlinks_are_skipped(make_site: MakeSite) -> None:
    site = make_site({"real.txt": "x"})
    (site.manifest.directory / "link.txt").symlink_to(site.manifest.directory / "real.txt")
    from cfemu.assets import Manifest

    assert set(Manifest(site.manifest.directory).files) == {"/real.txt"}


def test_a_file_over_25_mib_is_refused(make_site: MakeSite) -> None:
    with pytest.raises(ConfigError, match="Asset too large"):
        make_site({"big.bin": b"\0" * (25 * 1024 * 1024 + 1)})
