"""``AiSettings``: where ``env.AI.run`` sends inference, and how the local stand-in behaves."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CLOUDFLARE_API_BASE_URL",
    "DEFAULT_AI_MODEL",
    "AiSettings",
]

#: The model a Worker most often names in Cloudflare's examples; used when none is configured.
DEFAULT_AI_MODEL = "@cf/meta/llama-3.1-8b-instruct"
#: Cloudflare's REST API root; ``/accounts/{account_id}/ai/run/{model}`` is appended.
CLOUDFLARE_API_BASE_URL = "https://api.cloudflare.com/client/v4"


class AiSettings(BaseModel):
    """How cfemu's ``env.AI`` binding answers.

    ``mode="local"`` (default): models registered with ``AiBinding.register`` answer for their
    name, and every other model name is answered by the built-in deterministic stand-in,
    which waits ``latency_seconds`` on the emulator's clock and fails a ``fail_rate`` share
    of calls (drawn from an RNG seeded with ``seed``).

    ``mode="remote"``: models that are not registered are sent to Cloudflare's REST API with
    ``account_id``/``api_token`` (or the ``CLOUDFLARE_ACCOUNT_ID``/``CLOUDFLARE_API_TOKEN``
    environment variables), with a ``timeout_seconds`` timeout. Remote calls cost money on
    your Cloudflare account, as they do under ``wrangler dev``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["local", "remote"] = "local"
    seed: int = 0
    latency_seconds: float = Field(default=0.0, ge=0.0, le=3600.0)
    fail_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    account_id: str | None = None
    api_token: str | None = Field(default=None, repr=False)
    timeout_seconds: float = Field(default=30.0, gt=0.0, le=3600.0)
    default_model: str = Field(default=DEFAULT_AI_MODEL, min_length=1)
    base_url: str = CLOUDFLARE_API_BASE_URL
