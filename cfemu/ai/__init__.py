"""Workers AI, locally: the ``env.AI`` binding (``[ai] binding = "AI"``).

``await env.AI.run(model, inputs)`` answers from a model you registered for that name, from
Cloudflare's REST API (``AiSettings(mode="remote")``), or from a built-in deterministic
stand-in with configurable latency and failure rate. See ``docs/ai.md``.
"""

from __future__ import annotations

from cfemu.ai.binding import AiBinding, AiStats, ModelRunner, UserModel
from cfemu.ai.local import LOCAL_MODEL_MARKER
from cfemu.ai.settings import DEFAULT_AI_MODEL, AiSettings

__all__ = [
    "DEFAULT_AI_MODEL",
    "LOCAL_MODEL_MARKER",
    "AiBinding",
    "AiSettings",
    "AiStats",
    "ModelRunner",
    "UserModel",
]
