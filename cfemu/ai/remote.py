"""Workers AI through Cloudflare's REST API (``POST /accounts/{id}/ai/run/{model}``), via httpx.

Cloudflare answers ``{"success": true, "result": {...}}``, or ``{"success": false,
"errors": [{"code": ..., "message": ...}]}`` with a 4xx/5xx status. Errors become
``InferenceUpstreamError("<code>: <message>")`` as the binding reports them on Cloudflare
(spec: workers-and-config.md §4); a timeout is Workers AI's ``3007: Request timeout``; a
network failure (no answer at all) is an ``AiError`` saying what could not be reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from cfemu.errors import AiError, InferenceUpstreamError

__all__ = ["CODE_TIMEOUT", "RemoteAi"]

#: Workers AI's internal code for a request that timed out.
CODE_TIMEOUT = 3007


class RemoteAi:
    """A small client of Cloudflare's Workers AI REST endpoint.

    ``transport`` replaces httpx's network transport (tests pass ``httpx.MockTransport``).
    """

    def __init__(
        self,
        account_id: str,
        api_token: str,
        *,
        base_url: str,
        timeout_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account_id = account_id
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._headers = {"Authorization": f"Bearer {api_token}"}
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def url(self, model: str) -> str:
        """The REST URL that runs ``model``."""
        return f"{self.base_url}/accounts/{self.account_id}/ai/run/{model}"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport, timeout=self.timeout_seconds, headers=self._headers
            )
        return self._client

    async def run(
        self, model: str, inputs: Mapping[str, Any], options: Mapping[str, Any] | None = None
    ) -> Any:
        """POST ``inputs`` to Cloudflare and return the ``result`` object (or raw bytes)."""
        url = self.url(model)
        headers: dict[str, str] = {}
        extra = (options or {}).get("extraHeaders")
        if isinstance(extra, Mapping):
            headers.update({str(k): str(v) for k, v in extra.items()})
        try:
            response = await self._http().post(url, json=dict(inputs), headers=headers)
        except httpx.TimeoutException as exc:
            raise InferenceUpstreamError(
                f"{CODE_TIMEOUT}: Request timeout (no answer from Cloudflare Workers AI for "
                f"{model} within {self.timeout_seconds:g}s)"
            ) from exc
        except httpx.HTTPError as exc:
            raise AiError(
                f"could not reach Cloudflare Workers AI at {url}: {type(exc).__name__}: {exc}"
            ) from exc
        return self._result(model, response)

    @staticmethod
    def _result(model: str, response: httpx.Response) -> Any:
        content_type = response.headers.get("content-type", "")
        body: Any = None
        if "json" in content_type or response.content[:1] in (b"{", b"["):
            try:
                body = response.json()
            except ValueError:
                body = None
        ok = response.is_success and not (isinstance(body, dict) and body.get("success") is False)
        if ok:
            if isinstance(body, dict) and "result" in body:
                return body["result"]
            if body is not None:
                return body
            from cfemu.ai.stream import stream_of_body  # an image or server-sent events

            return stream_of_body(response.content, content_type or "application/octet-stream")
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            code = first.get("code", response.status_code)
            message = first.get("message", response.reason_phrase)
            raise InferenceUpstreamError(f"{code}: {message}")
        text = response.text.strip()[:200] or response.reason_phrase
        raise InferenceUpstreamError(
            f"{response.status_code}: {text} (Cloudflare Workers AI, model {model})"
        )

    async def aclose(self) -> None:
        """Close the HTTP client (idempotent)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
