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
    "RESPONSES_ROLES",
    "input_text",
    "is_responses_style",
    "validate_model_name",
    "validate_text_generation",
]

#: Workers AI's internal code for an input that does not match the model's schema.
CODE_BAD_INPUT = 5006
#: Workers AI's internal code for a malformed model name ("Invalid model ID").
CODE_INVALID_MODEL = 3042
#: Roles a text-generation message may have (spec: workers-and-config.md §4).
MESSAGE_ROLES = frozenset({"system", "user", "assistant", "tool"})
#: Roles of a Responses-style ``input`` item (the OpenAI Responses API adds ``developer``).
RESPONSES_ROLES = MESSAGE_ROLES | {"developer"}
_FORMS = ("prompt", "messages", "input")
_NON_TEXT_PARTS = frozenset({"input_image", "image_url", "input_file", "input_audio"})


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


def _text_of(content: object, where: str) -> str:
    """The text of a message's ``content``: a string, or a list of parts with ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        texts = []
        for index, part in enumerate(content):
            if not isinstance(part, Mapping):
                raise _bad(f"'{where}[{index}]' must be an object, got {type(part).__name__}")
            text = part.get("text")
            if part.get("type") in _NON_TEXT_PARTS:
                continue  # an image or a file: nothing the local model reads
            if not isinstance(text, str):
                raise _bad(f"'{where}[{index}].text' must be a string, got {type(text).__name__}")
            texts.append(text)
        return "\n".join(texts)
    raise _bad(
        f"'{where}' must be a string or a non-empty list of content parts, "
        f"got {type(content).__name__}"
    )


def _check_messages(messages: object, field: str, roles: frozenset[str]) -> None:
    if not isinstance(messages, list):
        raise _bad(f"'{field}' must be a list, got {type(messages).__name__}")
    if not messages:
        raise _bad(f"'{field}' must contain at least one message")
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        if not isinstance(message, Mapping):
            raise _bad(f"'{where}' must be an object, got {type(message).__name__}")
        if field == "input" and "role" not in message:
            if not isinstance(message.get("type"), str):  # e.g. function_call_output items
                raise _bad(f"'{where}' must have a 'role' or a 'type'")
            continue
        role = message.get("role")
        if role not in roles:
            allowed = ", ".join(sorted(roles))
            raise _bad(f"'{where}.role' must be one of {allowed}, got {role!r}")
        _text_of(message.get("content"), f"{where}.content")


def validate_text_generation(inputs: object) -> Mapping[str, Any]:
    """Check ``inputs`` has one of text generation's input forms (spec:
    kv-assets-workflows-ai.md, Workers AI models):

    * ``{"prompt": str}``;
    * ``{"messages": [{"role", "content"}, ...]}`` (content: a string or a list of parts);
    * Responses style, as ``@cf/openai/gpt-oss-*`` take it: ``{"input": str or [items],
      "instructions"?: str}``.

    Raises ``InferenceUpstreamError`` (``5006: ...``) naming the field and the reason.
    """
    if not isinstance(inputs, Mapping):
        raise _bad(
            f"inputs must be an object such as {{'prompt': '...'}}, got {type(inputs).__name__}"
        )
    forms = [name for name in _FORMS if name in inputs]
    if len(forms) > 1:
        raise _bad(f"inputs must have one of 'prompt', 'messages' or 'input', not {forms}")
    if not forms:
        keys = ", ".join(repr(k) for k in inputs) or "none"
        raise _bad(
            f"inputs must have a 'prompt', a 'messages' or an 'input' field (keys given: {keys})"
        )
    form = forms[0]
    if form == "prompt":
        prompt = inputs["prompt"]
        if not isinstance(prompt, str):
            raise _bad(f"'prompt' must be a string, got {type(prompt).__name__}")
        if not prompt:
            raise _bad("'prompt' must not be empty")
    elif form == "messages":
        _check_messages(inputs["messages"], "messages", MESSAGE_ROLES)
    else:
        value = inputs["input"]
        if isinstance(value, str):
            if not value:
                raise _bad("'input' must not be empty")
        else:
            _check_messages(value, "input", RESPONSES_ROLES)
        instructions = inputs.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise _bad(f"'instructions' must be a string, got {type(instructions).__name__}")
    return inputs


def is_responses_style(inputs: Mapping[str, Any]) -> bool:
    """Whether validated ``inputs`` use the Responses form (``input``/``instructions``)."""
    return "input" in inputs


def input_text(inputs: Mapping[str, Any]) -> tuple[str, str]:
    """``(question, context)`` of validated text-generation inputs.

    ``question`` is the prompt, the Responses ``input`` string, or the last user message;
    ``context`` is every other message's content (and ``instructions``), joined. Used by
    the built-in model.
    """
    if "prompt" in inputs:
        return str(inputs["prompt"]), ""
    if "input" in inputs:
        instructions = str(inputs.get("instructions") or "")
        if isinstance(inputs["input"], str):
            return inputs["input"], instructions
        items = [m for m in inputs["input"] if "role" in m]
        question, context = _question(items) if items else ("", "")
        return question, "\n".join(t for t in (instructions, context) if t)
    return _question(list(inputs["messages"]))


def _question(messages: list[Any]) -> tuple[str, str]:
    last = len(messages) - 1
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["role"] == "user":
            last = index
            break
    texts = [_text_of(m["content"], "content") for m in messages]
    context = "\n".join(t for i, t in enumerate(texts) if i != last)
    return texts[last], context
