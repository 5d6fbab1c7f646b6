"""Workers AI as a binding kind: one :class:`AiBinding` shared by every Worker."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, ClassVar

from cfemu.ai.settings import AiSettings
from cfemu.bindings import NOT_MINE, BindingService, DescribeRow, NotMine, ServiceContext

if TYPE_CHECKING:
    from cfemu.ai.binding import AiBinding
    from cfemu.config import WorkerConfig

__all__ = ["AI_SETTINGS_OPTION", "AiService"]

#: ``ServiceContext.options`` key of the :class:`AiSettings` given to the Emulator.
AI_SETTINGS_OPTION = "ai.settings"


class AiService(BindingService):
    """The ``[ai]`` binding. The binding outlives restarts of the emulator, so models
    registered on it (``emulator.ai.register(...)``) stay registered."""

    kind: ClassVar[str] = "ai"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        settings = ctx.options.get(AI_SETTINGS_OPTION)
        self.settings: AiSettings = settings if isinstance(settings, AiSettings) else AiSettings()
        self._binding: AiBinding | None = None
        self._remote: AiBinding | None = None

    @property
    def binding(self) -> AiBinding:
        """The ``env.AI`` binding (created on first use)."""
        if self._binding is None:  # imported here: a config without [ai] never pays for it
            from cfemu.ai.binding import AiBinding

            self._binding = AiBinding(
                self.ctx.clock, faults=self.ctx.faults, settings=self.settings
            )
        return self._binding

    def remote_binding(self) -> AiBinding:
        """The binding of ``[ai] remote = true``: Cloudflare's Workers AI through the REST
        API (``CLOUDFLARE_ACCOUNT_ID``, ``CLOUDFLARE_API_TOKEN``, ``CLOUDFLARE_API_BASE_URL``)."""
        if self._remote is None:
            import httpx

            from cfemu.ai.binding import AiBinding
            from cfemu.remote.client import TRANSPORT_OPTION

            transport = self.ctx.options.get(TRANSPORT_OPTION)
            base = os.environ.get("CLOUDFLARE_API_BASE_URL") or self.settings.base_url
            settings = self.settings.model_copy(update={"mode": "remote", "base_url": base})
            self._remote = AiBinding(
                self.ctx.clock,
                faults=self.ctx.faults,
                settings=settings,
                transport=transport if isinstance(transport, httpx.AsyncBaseTransport) else None,
            )
        return self._remote

    def bindings_for(self, config: WorkerConfig) -> Mapping[str, object]:
        """``env.<[ai] binding>``."""
        if config.ai is None:
            return {}
        return {config.ai.binding: self.remote_binding() if config.ai.remote else self.binding}

    async def aclose(self) -> None:
        """Close the bindings' HTTP clients (remote mode)."""
        if self._binding is not None:
            await self._binding.aclose()
        if self._remote is not None:
            await self._remote.aclose()
            self._remote = None

    def fault_targets(self, point: str) -> Collection[str] | NotMine | None:
        """``ai.run`` targets any model name."""
        return None if point.startswith("ai.") else NOT_MINE

    def describe(self, config: WorkerConfig) -> list[DescribeRow]:
        """A row for the AI binding."""
        if config.ai is None:
            return []
        mode = "remote" if config.ai.remote else self.settings.mode
        return [(f"env.{config.ai.binding}", "AI", mode)]
