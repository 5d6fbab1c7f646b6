"""Workers AI as a binding kind: one :class:`AiBinding` shared by every Worker."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, ClassVar

from cfemu.ai.binding import AiBinding
from cfemu.ai.settings import AiSettings
from cfemu.bindings import NOT_MINE, BindingService, DescribeRow, NotMine, ServiceContext

if TYPE_CHECKING:
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

    @property
    def binding(self) -> AiBinding:
        """The ``env.AI`` binding (created on first use)."""
        if self._binding is None:
            self._binding = AiBinding(
                self.ctx.clock, faults=self.ctx.faults, settings=self.settings
            )
        return self._binding

    def bindings_for(self, config: WorkerConfig) -> Mapping[str, object]:
        """``env.<[ai] binding>``."""
        return {} if config.ai is None else {config.ai.binding: self.binding}

    async def aclose(self) -> None:
        """Close the binding's HTTP client (remote mode)."""
        if self._binding is not None:
            await self._binding.aclose()

    def fault_targets(self, point: str) -> Collection[str] | NotMine | None:
        """``ai.run`` targets any model name."""
        return None if point.startswith("ai.") else NOT_MINE

    def describe(self, config: WorkerConfig) -> list[DescribeRow]:
        """A row for the AI binding."""
        return [] if config.ai is None else [(f"env.{config.ai.binding}", "AI", self.settings.mode)]
