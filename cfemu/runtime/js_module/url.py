"""JavaScript's ``URL`` and ``URLSearchParams`` as ``js`` shows them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from cfemu.runtime.js_module.containers import JsArray
from cfemu.runtime.js_module.proxy import JsException, JsNull, JsProxy, js_null

__all__ = ["JsURL", "JsURLSearchParams"]


def _pairs(init: Any) -> list[tuple[str, str]]:
    from cfemu.runtime.js_module.web import header_pairs

    return header_pairs(init)


class JsURLSearchParams(JsProxy):
    """JavaScript ``URLSearchParams``; changes write through to the ``URL`` it came from."""

    __slots__ = ("_owner", "_pairs")
    js_class = "URLSearchParams"
    _pairs: list[tuple[str, str]]
    __cfemu_body__ = True

    def __init__(self, init: Any = None, owner: JsURL | None = None) -> None:
        self._owner = owner
        if init is None or isinstance(init, JsNull):
            pairs: list[tuple[str, str]] = []
        elif isinstance(init, str):
            pairs = parse_qsl(init.removeprefix("?"), keep_blank_values=True)
        elif isinstance(init, JsURLSearchParams):
            pairs = list(init._pairs)
        else:
            pairs = _pairs(init)
        self._pairs = pairs

    def _changed(self) -> None:
        if self._owner is not None:
            self._owner._set_query(self.toString())

    def get(self, name: str) -> str | JsNull:
        """The first value of ``name``, or ``null``."""
        return next((v for k, v in self._pairs if k == name), js_null())

    def getAll(self, name: str) -> JsArray:
        """Every value of ``name``."""
        return JsArray(v for k, v in self._pairs if k == name)

    def has(self, name: str) -> bool:
        """Whether ``name`` is present."""
        return any(k == name for k, _ in self._pairs)

    def set(self, name: str, value: Any) -> None:
        """Replace the values of ``name``."""
        self._pairs = [(k, v) for k, v in self._pairs if k != name] + [(name, str(value))]
        self._changed()

    def append(self, name: str, value: Any) -> None:
        """Add a value."""
        self._pairs.append((name, str(value)))
        self._changed()

    def delete(self, name: str) -> None:
        """Remove ``name``."""
        self._pairs = [(k, v) for k, v in self._pairs if k != name]
        self._changed()

    def sort(self) -> None:
        """Sort by name (stable)."""
        self._pairs.sort(key=lambda p: p[0])
        self._changed()

    @property
    def size(self) -> int:
        """Number of pairs."""
        return len(self._pairs)

    def entries(self) -> Iterator[JsArray]:
        """``[name, value]`` arrays."""
        return iter([JsArray(p) for p in self._pairs])

    def keys(self) -> Iterator[str]:
        """The names."""
        return iter([k for k, _ in self._pairs])

    def values(self) -> Iterator[str]:
        """The values."""
        return iter([v for _, v in self._pairs])

    def toString(self) -> str:
        """The pairs form-encoded, without ``?``."""
        return urlencode(self._pairs, quote_via=quote)

    def __iter__(self) -> Iterator[JsArray]:
        return self.entries()


class JsURL(JsProxy):
    """JavaScript ``URL``: ``href``, ``protocol``, ``host``, ``pathname``, ``search``,
    ``searchParams``...; ``pathname``, ``search``, ``hash`` and ``href`` can be set."""

    __slots__ = ("_parts",)
    js_class = "URL"
    _parts: SplitResult
    _SETTABLE = frozenset({"pathname", "search", "hash", "href", "hostname", "protocol"})

    def __init__(self, url: Any, base: Any = None) -> None:
        text = str(url.href if isinstance(url, JsURL) else url)
        if base is not None:
            text = urljoin(str(base.href if isinstance(base, JsURL) else base), text)
        parts = urlsplit(text.strip())
        if not parts.scheme or (parts.scheme in ("http", "https") and not parts.netloc):
            raise JsException("TypeError", "Invalid URL string.")
        scheme = parts.scheme.lower()
        path = parts.path or ("/" if scheme in ("http", "https", "ws", "wss") else "")
        object.__setattr__(
            self, "_parts", parts._replace(scheme=scheme, netloc=parts.netloc.lower(), path=path)
        )

    def _set_query(self, query: str) -> None:
        object.__setattr__(self, "_parts", self._parts._replace(query=query))

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._SETTABLE:
            raise AttributeError(f"URL.{name} cannot be set in cfemu")
        text = str(value)
        parts = self._parts
        if name == "href":
            JsURL.__init__(self, text)
            return
        if name == "pathname":
            parts = parts._replace(path=text if text.startswith("/") else "/" + text)
        elif name == "search":
            parts = parts._replace(query=text.removeprefix("?"))
        elif name == "hash":
            parts = parts._replace(fragment=text.removeprefix("#"))
        elif name == "hostname":
            port = f":{parts.port}" if parts.port else ""
            parts = parts._replace(netloc=text.lower() + port)
        else:
            parts = parts._replace(scheme=text.removesuffix(":").lower())
        object.__setattr__(self, "_parts", parts)

    @property
    def href(self) -> str:
        """The whole URL."""
        return urlunsplit(self._parts)

    @property
    def protocol(self) -> str:
        """The scheme with its colon: ``"https:"``."""
        return self._parts.scheme + ":"

    @property
    def host(self) -> str:
        """Host name and port (if not the default)."""
        return self._parts.netloc.rpartition("@")[2]

    @property
    def hostname(self) -> str:
        """The host name."""
        return self._parts.hostname or ""

    @property
    def port(self) -> str:
        """The port, or ``""``."""
        port = self._parts.port
        default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(self._parts.scheme)
        return "" if port is None or port == default else str(port)

    @property
    def pathname(self) -> str:
        """The path."""
        return self._parts.path

    @property
    def search(self) -> str:
        """``"?query"``, or ``""``."""
        return "?" + self._parts.query if self._parts.query else ""

    @property
    def hash(self) -> str:
        """``"#fragment"``, or ``""``."""
        return "#" + self._parts.fragment if self._parts.fragment else ""

    @property
    def origin(self) -> str:
        """Scheme and host."""
        return f"{self._parts.scheme}://{self.host}"

    @property
    def username(self) -> str:
        """The user name, or ``""``."""
        return self._parts.username or ""

    @property
    def password(self) -> str:
        """The password, or ``""``."""
        return self._parts.password or ""

    @property
    def searchParams(self) -> JsURLSearchParams:
        """The query as ``URLSearchParams`` (changes update the URL)."""
        return JsURLSearchParams(self._parts.query, owner=self)

    def toString(self) -> str:
        """The whole URL."""
        return self.href

    def toJSON(self) -> str:
        """The whole URL."""
        return self.href
