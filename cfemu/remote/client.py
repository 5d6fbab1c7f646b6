"""The REST client remote bindings share: base URL, account, token, envelope errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

import httpx

from cfemu.errors import ConfigError

__all__ = [
    "DEFAULT_API_BASE_URL",
    "TRANSPORT_OPTION",
    "RemoteApi",
    "RemoteApiError",
    "close_remote_api",
    "remote_api_for",
    "remote_api_from_env",
]

#: Cloudflare's API, unless ``CLOUDFLARE_API_BASE_URL`` says otherwise.
DEFAULT_API_BASE_URL: Final = "https://api.cloudflare.com/client/v4"


class RemoteApiError(Exception):
    """A non-2xx answer: its status and Cloudflare's first error (code, message)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{message} [code: {code}]")
        self.status = status
        self.code = code
        self.message = message


class RemoteApi:
    """An account on Cloudflare's API (or anything speaking it, such as ``cfemu dev``)."""

    def __init__(
        self,
        account_id: str,
        api_token: str,
        *,
        base_url: str = DEFAULT_API_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.account_id = account_id
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout_seconds,
            headers={"Authorization": f"Bearer {api_token}"},
        )

    def url(self, path: str) -> str:
        """The URL of ``path`` under the account (``/d1/database/...``)."""
        return f"{self.base_url}/accounts/{self.account_id}{path}"

    async def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Call the API; return the envelope's ``result`` or raise :class:`RemoteApiError`
        (status 0 when nothing answered)."""
        try:
            response = await self._client.request(
                method, self.url(path), json=None if body is None else dict(body), params=params
            )
        except httpx.HTTPError as exc:
            raise RemoteApiError(
                0, 0, f"could not reach {self.base_url}: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not response.is_success:
            errors = payload.get("errors") if isinstance(payload, dict) else None
            first = errors[0] if errors else {}
            raise RemoteApiError(
                response.status_code,
                int(first.get("code", 0)),
                str(first.get("message", response.text[:200])),
            )
        return payload.get("result") if isinstance(payload, dict) else payload

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def remote_api_from_env(
    what: str,
    environ: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RemoteApi:
    """A :class:`RemoteApi` from ``CLOUDFLARE_ACCOUNT_ID``, ``CLOUDFLARE_API_TOKEN`` and
    ``CLOUDFLARE_API_BASE_URL``; a ``ConfigError`` starting with ``what`` (who needs the API)
    when the account or token is missing."""
    env = os.environ if environ is None else environ
    account = env.get("CLOUDFLARE_ACCOUNT_ID")
    token = env.get("CLOUDFLARE_API_TOKEN")
    missing = [
        name
        for name, value in (("CLOUDFLARE_ACCOUNT_ID", account), ("CLOUDFLARE_API_TOKEN", token))
        if not value
    ]
    if missing:
        raise ConfigError(f"{what}: set {' and '.join(missing)} so it can call Cloudflare's API")
    assert account is not None and token is not None
    base = env.get("CLOUDFLARE_API_BASE_URL") or DEFAULT_API_BASE_URL
    return RemoteApi(account, token, base_url=base, transport=transport)


#: ``ServiceContext.options`` keys: the shared client, and an httpx transport for tests.
_API_OPTION: Final = "remote.api"
TRANSPORT_OPTION: Final = "remote.transport"


def remote_api_for(options: dict[str, object], what: str) -> RemoteApi:
    """The emulator's shared :class:`RemoteApi` (built from the environment on first use;
    ``options[TRANSPORT_OPTION]`` may hold an httpx transport, as tests give)."""
    found = options.get(_API_OPTION)
    if isinstance(found, RemoteApi):
        return found
    transport = options.get(TRANSPORT_OPTION)
    api = remote_api_from_env(
        what, transport=transport if isinstance(transport, httpx.AsyncBaseTransport) else None
    )
    options[_API_OPTION] = api
    return api


async def close_remote_api(options: dict[str, object]) -> None:
    """Close the shared client, if one was built (idempotent)."""
    api = options.pop(_API_OPTION, None)
    if isinstance(api, RemoteApi):
        await api.aclose()
