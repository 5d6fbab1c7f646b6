"""The asset pipeline: one request in, one response out (spec: kv-assets-…md §2.3-§2.5).

``_redirects`` first; then the path is decoded and ``html_handling`` finds the file (or a
307 to the path that serves it); ``not_found_handling`` covers a miss; non-GET/HEAD is a
405; a non-canonical encoding is a 307; ``If-None-Match`` gives 304; ``_headers`` is applied
to whatever came out, redirects and 404s included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote, urlsplit

from cfemu.assets.manifest import AssetFile, Manifest
from cfemu.assets.rules import Headers as HeaderRules
from cfemu.assets.rules import Redirects, parse_headers, parse_redirects, substitute
from cfemu.runtime.http import FetchResponse, Headers, Request

__all__ = ["AssetHandler", "Intent"]

_SAFE: Final = "-_.!~*'()"  # what encodeURIComponent leaves alone, besides A-Z a-z 0-9


@dataclass(frozen=True)
class Intent:
    """What a path resolves to: a file to serve (with its status) or a path to redirect to."""

    asset: AssetFile | None = None
    status: int = 200
    redirect: str | None = None


Exists = Callable[[str], AssetFile | None]


class AssetHandler:
    """Serves one asset directory with its ``html_handling`` and ``not_found_handling``."""

    def __init__(
        self,
        manifest: Manifest,
        *,
        html_handling: str = "auto-trailing-slash",
        not_found_handling: str = "none",
    ) -> None:
        self.manifest = manifest
        self.html_handling = html_handling
        self.not_found_handling = not_found_handling
        self.redirects: Redirects = parse_redirects(
            manifest.redirects_text, html_handling=html_handling
        )
        self.headers: HeaderRules = parse_headers(manifest.headers_text)

    @property
    def warnings(self) -> list[str]:
        """Problems found in ``_redirects`` and ``_headers`` (those lines are ignored)."""
        return self.redirects.warnings + self.headers.warnings

    # -- resolution -------------------------------------------------------------------------
    def intent(self, path: str, *, not_found: bool = True, redirects: bool = True) -> Intent | None:
        """What the decoded ``path`` resolves to (``not_found=False``: as if
        ``not_found_handling`` were ``none``; ``redirects=False``: no html_handling
        redirect, as for a path a ``200`` rule rewrote); ``None`` for nothing."""
        found = _HTML_HANDLERS[self.html_handling](path, self.manifest.get, not redirects)
        if found is None and not_found:
            found = self._not_found(path)
        return found

    def _not_found(self, path: str) -> Intent | None:
        get = self.manifest.get
        if self.not_found_handling == "single-page-application":
            index = get("/index.html")
            return None if index is None else Intent(index, 200)
        if self.not_found_handling == "404-page":
            folder = path[: path.rfind("/") + 1] or "/"
            while True:
                page = get(folder + "404.html")
                if page is not None:
                    return Intent(page, 404)
                if folder == "/":
                    return None
                folder = folder[: folder[:-1].rfind("/") + 1]
        return None

    def can_fetch(self, request: Request, *, keep_not_found: bool) -> bool:
        """Whether assets answer ``request`` (the router's check, spec §2.2)."""
        url = urlsplit(request.url)
        if self.redirects.match(url.hostname or "", url.path or "/") is not None:
            return True
        return self.intent(_decode_path(url.path or "/"), not_found=keep_not_found) is not None

    # -- the pipeline -----------------------------------------------------------------------
    def handle(self, request: Request) -> FetchResponse:
        """The response to ``request``: a file, a redirect, a 304, a 404 or a 405."""
        url = urlsplit(request.url)
        host = url.hostname or ""
        raw_path = url.path or "/"
        response = self._respond(request, url.query, host, raw_path)
        pairs = self.headers.apply(host, raw_path, list(response._headers.items()))
        response._headers = Headers(pairs)
        return response

    def _respond(self, request: Request, query: str, host: str, raw_path: str) -> FetchResponse:
        path = raw_path
        rewritten = False
        found = self.redirects.match(host, raw_path)
        if found is not None:
            rule, captures = found
            destination = substitute(rule.destination, captures)
            if rule.status != 200:
                return _redirect(rule.status, _location(destination, query, host))
            path, rewritten = destination.split("?", 1)[0], True
        decoded = _decode_path(path)
        intent = self.intent(decoded, redirects=not rewritten)
        if intent is None:
            return _empty(404)
        method = str(request._method)
        if method not in ("GET", "HEAD"):
            return _empty(405)
        if intent.redirect is not None:
            return _redirect(307, _encode_path(intent.redirect) + (f"?{query}" if query else ""))
        canonical = _encode_path(decoded)
        if not rewritten and canonical != raw_path:
            return _redirect(307, canonical + (f"?{query}" if query else ""))
        asset = intent.asset
        assert asset is not None
        body, etag = asset.load()
        headers = Headers([("etag", f'"{etag}"')])
        if asset.content_type is not None:
            headers.set("content-type", asset.content_type)
        request_headers = request._headers
        if not (request_headers.has("authorization") or request_headers.has("range")):
            headers.set("cache-control", "public, max-age=0, must-revalidate")
        if_none_match = request_headers.get("if-none-match")
        if intent.status == 200 and if_none_match in (f'"{etag}"', f'W/"{etag}"'):
            return FetchResponse._build(304, headers, None)
        return FetchResponse._build(intent.status, headers, body)


def _empty(status: int) -> FetchResponse:
    return FetchResponse._build(status, Headers(), None)


def _redirect(status: int, location: str) -> FetchResponse:
    return FetchResponse._build(status, Headers([("location", location)]), None)


def _location(destination: str, query: str, host: str) -> str:
    parts = urlsplit(destination)
    if parts.scheme and parts.netloc and parts.hostname != host:
        return destination
    path = parts.path or "/"
    while "//" in path:
        path = path.replace("//", "/")
    search = parts.query or query
    return (
        path + (f"?{search}" if search else "") + (f"#{parts.fragment}" if parts.fragment else "")
    )


def _decode_path(path: str) -> str:
    decoded = "/".join(unquote(segment) for segment in path.split("/"))
    while "//" in decoded:
        decoded = decoded.replace("//", "/")
    return decoded


def _encode_path(path: str) -> str:
    return "/".join(quote(segment, safe=_SAFE) for segment in path.split("/"))


# -- html_handling (spec §2.4) ----------------------------------------------------------------
def _safe_redirect(file: str, destination: str, exists: Exists, mode: str) -> Intent | None:
    """A redirect to ``destination`` if it serves the very file ``file`` (no redirect loop)."""
    if exists(destination) is not None:
        return None
    target = exists(file)
    if target is None:
        return None
    intent = _HTML_HANDLERS[mode](destination, exists, True)
    if intent is not None and intent.asset is target:
        return Intent(redirect=destination)
    return None


def _redirector(
    exists: Exists, no_redirects: bool, mode: str
) -> Callable[[str, str], Intent | None]:
    def redirect(file: str, destination: str) -> Intent | None:
        return None if no_redirects else _safe_redirect(file, destination, exists, mode)

    return redirect


def _serve(asset: AssetFile | None) -> Intent | None:
    return None if asset is None else Intent(asset)


def _auto(path: str, exists: Exists, no_redirects: bool) -> Intent | None:
    exact = exists(path)

    def redirect(file: str, destination: str) -> Intent | None:
        return (
            None
            if no_redirects
            else _safe_redirect(file, destination, exists, "auto-trailing-slash")
        )

    if path.endswith("/index"):
        if exact is not None:
            return Intent(exact)
        found = redirect(path + ".html", path[: -len("index")]) or redirect(
            path[: -len("/index")] + ".html", path[: -len("/index")]
        )
        if found:
            return found
    elif path.endswith("/index.html"):
        found = redirect(path, path[: -len("index.html")]) or redirect(
            path[: -len("/index.html")] + ".html", path[: -len("/index.html")]
        )
        if found:
            return found
    elif path.endswith("/"):
        index = exists(path + "index.html")
        if index is not None:
            return Intent(index)
        found = redirect(path[:-1] + ".html", path[:-1])
        if found:
            return found
    elif path.endswith(".html"):
        stem = path[: -len(".html")]
        found = redirect(path, stem) or redirect(stem + "/index.html", stem + "/")
        if found:
            return found
    if exact is not None:
        return Intent(exact)
    html = exists(path + ".html")
    if html is not None:
        return Intent(html)
    return redirect(path + "/index.html", path + "/")


def _force(path: str, exists: Exists, no_redirects: bool) -> Intent | None:
    exact = exists(path)

    def redirect(file: str, destination: str) -> Intent | None:
        return (
            None
            if no_redirects
            else _safe_redirect(file, destination, exists, "force-trailing-slash")
        )

    if path.endswith("/index"):
        if exact is not None:
            return Intent(exact)
        found = redirect(path + ".html", path[: -len("index")]) or redirect(
            path[: -len("/index")] + ".html", path[: -len("index")]
        )
        if found:
            return found
    elif path.endswith("/index.html"):
        base = path[: -len("index.html")]
        found = redirect(path, base) or redirect(base[:-1] + ".html", base)
        if found:
            return found
    elif path.endswith("/"):
        served = _serve(exists(path + "index.html")) or _serve(exists(path[:-1] + ".html"))
        if served:
            return served
    elif path.endswith(".html"):
        stem = path[: -len(".html")]
        found = redirect(path, stem + "/") or redirect(stem + "/index.html", stem + "/")
        if found:
            return found
    if exact is not None:
        return Intent(exact)
    return redirect(path + ".html", path + "/") or redirect(path + "/index.html", path + "/")


def _drop(path: str, exists: Exists, no_redirects: bool) -> Intent | None:
    exact = exists(path)

    def redirect(file: str, destination: str) -> Intent | None:
        return (
            None
            if no_redirects
            else _safe_redirect(file, destination, exists, "drop-trailing-slash")
        )

    if path.endswith("/index"):
        if exact is not None:
            return Intent(exact)
        if path == "/index":
            found = redirect("/index.html", "/")
        else:
            stem = path[: -len("/index")]
            found = redirect(stem + ".html", stem) or redirect(path + ".html", stem)
        if found:
            return found
    elif path.endswith("/index.html"):
        if path == "/index.html":
            found = redirect(path, "/")
        else:
            stem = path[: -len("/index.html")]
            found = redirect(path, stem) or redirect(stem + ".html", stem)
        if found:
            return found
    elif path == "/":
        served = _serve(exists("/index.html"))
        if served:
            return served
    elif path.endswith("/"):
        stem = path[:-1]
        found = redirect(stem + ".html", stem) or redirect(path + "index.html", stem)
        if found:
            return found
    elif path.endswith(".html"):
        stem = path[: -len(".html")]
        found = redirect(path, stem) or redirect(stem + "/index.html", stem)
        if found:
            return found
    if exact is not None:
        return Intent(exact)
    return _serve(exists(path + ".html")) or _serve(exists(path + "/index.html"))


def _none(path: str, exists: Exists, no_redirects: bool) -> Intent | None:
    return _serve(exists(path))


_HTML_HANDLERS: Final[dict[str, Callable[[str, Exists, bool], Intent | None]]] = {
    "auto-trailing-slash": _auto,
    "force-trailing-slash": _force,
    "drop-trailing-slash": _drop,
    "none": _none,
}
