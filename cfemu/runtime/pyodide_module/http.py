"""``pyodide.http``: ``pyfetch`` and its ``FetchResponse``, over cfemu's outbound transport
(the one ``workers.fetch`` uses: ``Worker.load(..., outbound=...)``, the network by default).

As in Pyodide, ``FetchResponse.headers`` is a ``dict`` (names lowercased, repeated values
joined), a second read of the body raises ``BodyUsedError``, ``raise_for_status()`` raises
``HttpStatusError`` and a failed request raises ``AbortError``; all three are ``OSError``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from cfemu.errors import NotEmulatedError
from cfemu.runtime.http import FetchResponse as _BaseResponse
from cfemu.runtime.js_module.proxy import JsException
from cfemu.runtime.js_module.web import JsResponse, new_request

__all__ = [
    "AbortError",
    "BodyUsedError",
    "FetchResponse",
    "HttpStatusError",
    "pyfetch",
]


class HttpStatusError(OSError):
    """``raise_for_status()`` on a 4xx or 5xx response."""

    def __init__(self, status: int, status_text: str, url: str) -> None:
        kind = "Client" if status < 500 else "Server"
        super().__init__(f"{status} {kind} Error: {status_text} for url: {url}")
        self.status = status
        self.status_text = status_text
        self.url = url


class BodyUsedError(OSError):
    """The body was read already."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*(args or ("Response body is already used",)))


class AbortError(OSError):
    """The request failed or was aborted."""


class FetchResponse(_BaseResponse):
    """What ``await pyfetch(...)`` returns: ``status``, ``ok``, ``headers`` (a dict),
    ``url``, and async ``text()``, ``string()``, ``json()``, ``bytes()``, ``buffer()``,
    ``memoryview()``, ``unpack_archive()``."""

    @classmethod
    def _wrap(cls, response: _BaseResponse) -> FetchResponse:
        wrapped = cls.__new__(cls)
        for slot in ("_status", "_status_text", "_url", "_redirected", "_headers", "_body"):
            setattr(wrapped, slot, getattr(response, slot))
        wrapped._body_used = response.body_used
        return wrapped

    @property
    def headers(self) -> dict[str, str]:  # type: ignore[override]
        """The headers as a ``dict`` (names lowercased, repeated values joined by ", ")."""
        return {name: self._headers.get(name) or "" for name, _ in self._headers.items()}

    @property
    def js_response(self) -> JsResponse:
        """The response as a ``js.Response``."""
        return JsResponse(self)

    def _raise_if_failed(self) -> None:
        if self._body_used:
            raise BodyUsedError()

    def raise_for_status(self) -> None:
        """Raise :class:`HttpStatusError` for a 4xx or 5xx status."""
        if 400 <= self._status < 600:
            raise HttpStatusError(self._status, self._status_text, self._url)

    def clone(self) -> FetchResponse:  # type: ignore[override]
        """A copy with its own unread body."""
        self._raise_if_failed()
        return FetchResponse._wrap(self)

    def abort(self, reason: Any = None) -> None:
        """Abort reading the body: later reads raise :class:`AbortError`."""
        self._body_used = True

    async def unpack_archive(
        self, *, extract_dir: str | None = None, format: str | None = None
    ) -> None:
        """Unpack the body (a zip or tar archive) into ``extract_dir`` (default: cwd)."""
        data = self._take()
        suffix = {"zip": ".zip", "tar": ".tar", "gztar": ".tar.gz"}.get(format or "", "")
        name = Path(self._url).name if not suffix else "archive" + suffix
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / (name or "archive")
            path.write_bytes(data)
            shutil.unpack_archive(path, extract_dir, format)


async def pyfetch(
    url: Any, /, *, signal: Any = None, fetcher: Any = None, **kwargs: Any
) -> FetchResponse:
    """Fetch ``url``; keyword arguments are the fetch options (``method``, ``headers``,
    ``body``, ``redirect``...). A failed request raises :class:`AbortError`."""
    from cfemu.runtime.outbound import fetch as outbound_fetch

    del signal
    try:
        request = new_request(url, kwargs)._r
    except JsException as exc:
        raise AbortError(exc.message) from None
    try:
        response = await outbound_fetch(request, fetcher=fetcher)
    except NotEmulatedError:
        raise
    except Exception as exc:  # JavaScript's fetch rejects; Pyodide raises AbortError
        raise AbortError(str(exc)) from exc
    return FetchResponse._wrap(response)
