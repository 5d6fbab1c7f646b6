"""The ASGI application of cfemu's Cloudflare API, and its mounting beside a Worker."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from cfemu.api._http import (
    ApiError,
    ApiRequest,
    ASGIApp,
    Receive,
    Router,
    Scope,
    Send,
    error_response,
    read_request,
    send_response,
)
from cfemu.api.hosts import host_allowed, refuse_host, request_host

if TYPE_CHECKING:
    from cfemu.emulator import Emulator

__all__ = ["API_PREFIX", "MAX_BODY_BYTES", "ApiApp", "api_app", "with_api"]

#: Where the API lives, as on ``api.cloudflare.com``.
API_PREFIX: Final = "/client/v4"
#: The largest request body the API reads (D1 imports and queue batches fit well within).
MAX_BODY_BYTES: Final = 100 * 1024 * 1024

_log = logging.getLogger("cfemu.api")


class ApiApp:
    """The API as an ASGI application (paths under :data:`API_PREFIX`).

    ``token``: the bearer token every call must carry (``None``: any token is accepted,
    but one must be sent, as Cloudflare requires). ``account_id``: the only account id
    accepted in paths (default: the first config's ``account_id``; with none, any).
    """

    def __init__(
        self, emulator: Emulator, *, token: str | None = None, account_id: str | None = None
    ) -> None:
        self.emulator = emulator
        self.token = token
        if account_id is None:  # the config's account_id, as wrangler reads it; else any
            configured = emulator.configs[0].raw.get("account_id")
            account_id = configured if isinstance(configured, str) and configured else None
        self.account_id = account_id
        self.router = Router()
        self._routed = False

    def _routes(self) -> Router:
        if not self._routed:
            from cfemu.ai.service import AiService
            from cfemu.api import ai, d1, queues
            from cfemu.d1.service import D1Service
            from cfemu.queues.service import QueueService

            emulator = self.emulator
            d1.add_routes(self.router, emulator.service(D1Service))
            queues.add_routes(self.router, emulator.service(QueueService))
            ai.add_routes(self.router, emulator.service(AiService).binding)
            self._routed = True
        return self.router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            return
        try:
            request = await read_request(scope, receive, MAX_BODY_BYTES)
            path = request.path
            if not path.startswith(API_PREFIX):
                raise ApiError(404, 7003, "No route for the URI")
            route = path[len(API_PREFIX) :] or "/"
            if not route.startswith("/_transfers/"):  # signed URLs carry their own secret
                self._authenticate(request)
            handler, request.params = self._routes().resolve(request.method, route)
            self._check_account(request)
            response = await handler(request)
        except ApiError as exc:
            response = error_response(exc)
        except Exception:
            _log.exception("cfemu API: %s %s failed", scope.get("method"), scope.get("path"))
            response = error_response(ApiError(500, 15000, "Internal error", retry=False))
        await send_response(send, response)

    def _authenticate(self, request: ApiRequest) -> None:
        headers = request.headers
        bearer = headers.get("authorization", "")
        token = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
        legacy = headers.get("x-auth-key") and headers.get("x-auth-email")
        if token is None and not legacy and not headers.get("x-auth-user-service-key"):
            raise ApiError(401, 10000, "Authentication error")
        if self.token is not None and not hmac.compare_digest(token or "", self.token):
            raise ApiError(403, 10000, "Authentication error")

    def _check_account(self, request: ApiRequest) -> None:
        account = request.params.get("account_id")
        if self.account_id is not None and account is not None and account != self.account_id:
            raise ApiError(403, 10000, "Authentication error")


def api_app(
    emulator: Emulator, *, token: str | None = None, account_id: str | None = None
) -> ApiApp:
    """The emulator's Cloudflare API as an ASGI application (see :class:`ApiApp`)."""
    return ApiApp(emulator, token=token, account_id=account_id)


def with_api(worker_app: Any, api: ApiApp | ASGIApp, *, allowed_hosts: Iterable[str] = ()) -> Any:
    """An ASGI application sending :data:`API_PREFIX` paths to ``api``, the rest to
    ``worker_app`` (how ``cfemu dev`` serves both on one port). A request for the API whose
    ``Host`` is not local, an IP address or one of ``allowed_hosts`` is refused (403: DNS
    rebinding, see :mod:`cfemu.api.hosts`)."""
    prefix = API_PREFIX.encode()
    folder = prefix + b"/"
    also = tuple(allowed_hosts)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope["path"].encode()
            if raw == prefix or raw.startswith(folder):
                if host_allowed(request_host(scope), also):
                    await api(scope, receive, send)
                else:
                    await refuse_host(scope, receive, send, "the Cloudflare API")
                return
        await worker_app(scope, receive, send)

    return app
