"""Static assets as a binding kind: served in front of the Worker, and ``env.ASSETS``.

Routing (spec: kv-assets-workflows-ai.md §2.2): with no Worker script every request goes to
the assets; ``run_worker_first = true`` sends every request to the Worker; a rule list sends
``!/...`` matches to the assets and ``/...`` matches to the Worker; otherwise a request goes
to the assets when they can answer it (``not_found_handling`` counted only with a rule list,
or for browser navigations from compatibility date 2025-04-01) and to the Worker when not.
``_headers`` and ``_redirects`` never touch the Worker's responses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

from cfemu.assets.handler import AssetHandler
from cfemu.assets.manifest import Manifest
from cfemu.bindings import BindingService, DescribeRow, ServiceContext
from cfemu.config._routes import route_pattern
from cfemu.runtime.http import FetchResponse, Headers, Request

if TYPE_CHECKING:
    from cfemu.config import WorkerConfig
    from cfemu.runtime.transport import Dispatch

__all__ = ["AssetsBinding", "AssetsService"]

log = logging.getLogger("cfemu.assets")

#: From this compatibility date a navigation prefers assets (``not_found_handling`` counts).
NAVIGATION_FLAG_DATE: Final = "2025-04-01"


class AssetsBinding:
    """``env.ASSETS``: a fetcher answering from the asset directory (``await fetch(...)``).

    Takes a ``Request`` or an absolute URL string (any host: only the path is looked up).
    ``html_handling``, ``not_found_handling``, ``_redirects`` and ``_headers`` apply;
    ``run_worker_first`` does not.
    """

    def __init__(self, handler: AssetHandler) -> None:
        self._handler = handler

    async def fetch(self, request: Any, /, **init: Any) -> FetchResponse:
        """The asset response to ``request`` (a ``Request`` or a URL string)."""
        if isinstance(request, str):
            if "://" not in request:
                raise TypeError(f"Fetch API cannot load: {request}")
            request = (
                Request(request, **init) if init else Request.incoming("GET", request, [], None)
            )
        elif init:
            request = Request(request, **init)
        elif not isinstance(request, Request):
            url = getattr(request, "url", None)
            if not isinstance(url, str):
                raise TypeError("ASSETS.fetch() takes a Request or a URL string")
            request = Request.incoming("GET", url, [], None)
        response = self._handler.handle(request)
        if request._method == "HEAD":
            response._body = None  # a HEAD answer has headers only
        return response

    def __repr__(self) -> str:
        return f"AssetsBinding(directory={str(self._handler.manifest.directory)!r})"


class AssetsService(BindingService):
    """The ``[assets]`` of every Worker: one handler per Worker, read at start."""

    kind: ClassVar[str] = "assets"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        #: Each Worker's asset handler, by Worker name.
        self.handlers: dict[str, AssetHandler] = {}

    def handler(self, config: WorkerConfig) -> AssetHandler:
        """The asset handler of the Worker configured by ``config`` (read on first use)."""
        found = self.handlers.get(config.name)
        if found is None:
            assets = config.assets
            assert assets is not None
            manifest = Manifest.read(
                assets.directory_path(config.base_dir).resolve(), config_file=config.path
            )
            found = AssetHandler(
                manifest,
                html_handling=assets.html_handling,
                not_found_handling=assets.not_found_handling,
            )
            for warning in found.warnings:
                log.warning("%s: %s", manifest.directory, warning)
            self.handlers[config.name] = found
        return found

    async def start(self) -> None:
        """Read every asset directory (a missing one fails before any Worker loads)."""
        for config in self.ctx.configs:
            if config.assets is not None:
                self.handler(config)

    def bindings_for(self, config: WorkerConfig) -> Mapping[str, object]:
        """``env.<assets.binding>`` when the config names one."""
        if config.assets is None or config.assets.binding is None:
            return {}
        return {config.assets.binding: AssetsBinding(self.handler(config))}

    def wrap_fetch(self, config: WorkerConfig, fetch: Dispatch) -> Dispatch:
        """Assets answer before the Worker, as Cloudflare routes them."""
        if config.assets is None:
            return fetch
        return _Router(config, self.handler(config), fetch)

    def describe(self, config: WorkerConfig) -> list[DescribeRow]:
        """A row for the asset directory."""
        if config.assets is None:
            return []
        name = f"env.{config.assets.binding}" if config.assets.binding else "(assets)"
        return [(name, str(self.handler(config).manifest.directory), "local")]


class _Router:
    """The dispatch in front of one Worker: assets or Worker, per request."""

    def __init__(self, config: WorkerConfig, handler: AssetHandler, fetch: Dispatch) -> None:
        assets = config.assets
        assert assets is not None
        self.handler = handler
        self.fetch = fetch
        self.has_worker = config.main_path is not None
        rules = assets.run_worker_first
        self.always_worker = rules is True
        self.static_routing = isinstance(rules, list)
        listed = rules if isinstance(rules, list) else []
        self.to_assets = [route_pattern(r[1:]) for r in listed if r.startswith("!")]
        self.to_worker = [route_pattern(r) for r in listed if not r.startswith("!")]
        flags = set(config.compatibility_flags)
        date = config.compatibility_date or ""
        self.navigation_prefers_assets = "assets_navigation_prefers_asset_serving" in flags or (
            date >= NAVIGATION_FLAG_DATE and "assets_navigation_has_no_effect" not in flags
        )

    async def __call__(self, request: Request) -> FetchResponse:
        if await self._to_assets(request):
            try:
                return self.handler.handle(request)
            except Exception:
                log.exception("serving the asset for %s failed", request.url)
                return FetchResponse._build(500, Headers(), None)
        return await self.fetch(request)

    async def _to_assets(self, request: Request) -> bool:
        if not self.has_worker:
            return True
        if self.always_worker:
            return False
        if self.static_routing:
            path = request.url.split("://", 1)[-1]
            path = "/" + path.split("/", 1)[1] if "/" in path else "/"
            path = path.split("?", 1)[0].split("#", 1)[0]
            if any(p.fullmatch(path) for p in self.to_assets):
                return True
            if any(p.fullmatch(path) for p in self.to_worker):
                return False
        keep = self.static_routing or (
            self.navigation_prefers_assets and request._headers.get("sec-fetch-mode") == "navigate"
        )
        return self.handler.can_fetch(request, keep_not_found=keep)
