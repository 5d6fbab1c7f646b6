"""Workers AI, locally: the ``env.AI`` binding (``[ai] binding = "AI"``).

``await env.AI.run(model, inputs)`` answers from a model you registered for that name, from
Cloudflare's REST API (``AiSettings(mode="remote")``), or from a built-in deterministic
stand-in with configurable latency and failure rate. See ``docs/ai.md``.

The package is lazy, like ``cfemu`` itself: ``cfemu dev`` reads ``AiSettings`` for every
config, and only a config with an ``[ai]`` binding pays for the binding (httpx, the model
catalogue); each name below is imported from its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cfemu.ai.binding import AiBinding, AiStats, ModelRunner, UserModel
    from cfemu.ai.local import LOCAL_MODEL_MARKER
    from cfemu.ai.settings import DEFAULT_AI_MODEL, AiSettings

#: Where each public name lives: imported from there on first use (see ``__getattr__``).
_SOURCES: dict[str, str] = {
    "AiBinding": "cfemu.ai.binding",
    "AiStats": "cfemu.ai.binding",
    "ModelRunner": "cfemu.ai.binding",
    "UserModel": "cfemu.ai.binding",
    "LOCAL_MODEL_MARKER": "cfemu.ai.local",
    "DEFAULT_AI_MODEL": "cfemu.ai.settings",
    "AiSettings": "cfemu.ai.settings",
}

__all__ = [
    "DEFAULT_AI_MODEL",
    "LOCAL_MODEL_MARKER",
    "AiBinding",
    "AiSettings",
    "AiStats",
    "ModelRunner",
    "UserModel",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use, then keep it in the package."""
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module 'cfemu.ai' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The package's attributes, public names not yet imported included."""
    return sorted({*globals(), *__all__})
