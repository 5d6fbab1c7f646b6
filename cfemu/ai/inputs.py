"""Checks of ``env.AI.run`` arguments against Workers AI's text-generation input shape.

Workers AI answers a malformed request with an HTTP 400 that the binding turns into an
``InferenceUpstreamError`` (spec: workers-and-config.md §4); cfemu raises the same class
with a ``<code>: <message>`` text that names the offending field, before any inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cfemu.errors import InferenceUpstreamError

__all__ = [
    "CODE_BAD_INPUT",
    "CODE_INVALID_MODEL",
    "MESSAGE_ROLES",
    "input_text",
    "validate_model_name",
    "validate_text_generation",
]

#: Workers AI's internal code for an input that does not match the model's schema.
CODE_BAD_INPUT = 5006
#: Workers AI's internal code for a malformed model name ("Invalid model ID").
CODE_INVALID_MODEL = 3042
#: Roles a text-generation message may have (spec: workers-and-config.md §4).
MESSAGE_ROLES = frozenset({"system", "user", "assistant", "tool"})


def _bad(message: str) -> InferenceUpstreamError:
    return InferenceUpstreamError(f"{CODE_BAD_INPUT}: {message}")


def validate_model_name(model: object) -> str:
    """Return ``model`` if it is a usable model name, else raise ``InferenceUpstreamError``."""
    if not isinstance(model, str) or not model.strip():
        raise InferenceUpstreamError(
            f"{CODE_INVALID_MODEL}: The model name is invalid "
            f"(expected a non-empty string such as '@cf/meta/llama-3.1-8b-instruct', "
            f"got {model!r})"
        )
    return model


def validate_text_generation(inputs: object) -> Mapping[str, Any]:
    """Check ``inputs`` is ``{"prompt": str}`` or ``{"messages": [{role, content}, ...]}``.

    Raises ``InferenceUpstreamError`` (``5006: ...``) naming the field and the reason.
    """
    if not isinstance(inputs, Mapping):
        raise _bad(
            f"inputs must be an object such as {{'prompt': '...'}}, got {type(inputs).__name__}"
        )
    has_prompt = "prompt" in inputs
    has_messages = "messages" in inputs
    if has_prompt and has_messages:
        raise _bad("inputs must have either 'prompt' or 'messages', not both")
    if not has_prompt and not has_messages:
        keys = ", ".join(repr(k) for k in inputs) or "none"
        raise _bad(f"inputs must have a 'prompt' or a 'messages' field (keys given: {keys})")
    if has_prompt:
        prompt = inputs["prompt"]
        if not isinstance(prompt, str):
            raise _bad(f"'prompt' must be a string, got {type(prompt).__name__}")
        if not prompt:
            raise _bad("'prompt' must not be empty")
        return inputs
    messages = inputs["messages"]
    if not isinstance(messages, list | tuple):
        raise _bad(f"'messages' must be a list, got {type(messages).__name__}")
    if not messages:
        raise _bad("'messages' must contain at least one message")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, Mapping):
            raise _bad(f"'{where}' must be an object, got {type(message).__name__}")
        role = message.get("role")
        if role not in MESSAGE_ROLES:
            allowed = ", ".join(sorted(MESSAGE_ROLES))
            raise _bad(f"'{where}.role' must be one of {allowed}, got {role!r}")
        content = message.get("content")
        if not isinstance(content, str):
            raise _bad(f"'{where}.content' must be a string, got {type(content).__name__}")
    return inputs


def input_text(inputs: Mapping[str, Any]) -> tuple[str, str]:
    """``(question, context)`` of validated text-generation inputs.

    ``question`` is the prompt, or the last user message; ``context`` is every other
    message's content, joined. Used by the built-in model.
    """
    if "prompt" in inputs:
        return str(inputs["prompt"]), ""
    messages = list(inputs["messages"])
    last = len(messages) - 1
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["role"] == "user":
            last = index
            break
    context = "\n".join(str(m["content"]) for i, m in enumerate(messages) if i != last)
    return str(messages[last]["content"]), context
