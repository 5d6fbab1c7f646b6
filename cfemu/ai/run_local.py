"""The local path of ``env.AI.run``: find the model, check its inputs and options, answer.

Order (as Workers AI does it): an unknown model is refused first (``5007: No such model
<model> or task``, spec: kv-assets-workflows-ai.md §4.6), then the inputs are checked
against the model's schema (``5006``), then the model answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cfemu._js import to_js_dict
from cfemu.ai import catalogue as cat
from cfemu.ai.inputs import is_responses_style, validate_text_generation
from cfemu.ai.local import responses_answer
from cfemu.ai.schema import bad_input, validate
from cfemu.ai.tasks import answer
from cfemu.errors import AiError, InferenceUpstreamError, NotEmulatedError

__all__ = [
    "CODE_NO_SUCH_MODEL",
    "check_options",
    "local_result",
    "needs_thread",
    "validate_for_model",
]

#: Workers AI's internal code for a model it does not have.
CODE_NO_SUCH_MODEL = 5007
#: At most this many ``tags`` per call, each at most this long (spec §4.1).
MAX_TAGS = 5
MAX_TAG_LENGTH = 50
_TAG = re.compile(r"[A-Za-z0-9:./@-]+")
_GATEWAY_KEYS = frozenset(
    {
        "id",
        "cacheKey",
        "cacheTtl",
        "skipCache",
        "metadata",
        "collectLog",
        "eventId",
        "requestTimeoutMs",
        "retries",
    }
)


def _binary(value: object) -> bytes | None:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    to_bytes = getattr(value, "to_bytes", None)  # js.Uint8Array / ArrayBuffer proxies
    if callable(to_bytes) and not isinstance(value, int | str | Mapping):
        data = to_bytes()
        return bytes(data) if isinstance(data, bytes | bytearray | memoryview) else None
    return None


def validate_for_model(model: str, inputs: object) -> tuple[cat.ModelInfo, Mapping[str, Any]]:
    """The catalogue entry of ``model`` and its checked inputs; raw binary inputs (bytes, a
    ``js.Uint8Array``) fill the model's image or audio field, as Workers AI takes them."""
    info = cat.find_model(model)
    if info is None:
        raise InferenceUpstreamError(f"{CODE_NO_SUCH_MODEL}: No such model {model} or task")
    raw = _binary(inputs)
    if raw is not None:
        if info.binary_input is None:
            raise bad_input("Type mismatch of '/', 'binary' not in 'object'")
        inputs = {info.binary_input: list(raw)}
    elif isinstance(inputs, Mapping) and info.binary_input:
        value = inputs.get(info.binary_input)
        data = _binary(value)
        if data is not None:
            inputs = {**inputs, info.binary_input: list(data)}
    if info.task == cat.TEXT_GENERATION:
        if isinstance(inputs, Mapping) and "input" in inputs and not info.responses:
            raise bad_input(
                "oneOf at '/' not met, 0 matches: required properties at '/' are 'prompt', "
                "required properties at '/' are 'messages'"
            )
        validate_text_generation(inputs)
    return info, validate(inputs, info.schema)


def local_result(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int, now: int) -> Any:
    """The binding's return value for ``info`` on checked ``inputs``: a ``JsDict``/list, a
    Responses object, or a ``ReadableStream`` (SSE for ``stream: true``, PNG bytes)."""
    result = answer(info, inputs, seed)
    if isinstance(result, bytes):
        from cfemu.ai.stream import AiStream

        return AiStream([result], "image/png")
    if info.task == cat.TEXT_GENERATION:
        if inputs.get("stream"):
            from cfemu.ai.stream import sse_stream

            return sse_stream(result)
        if is_responses_style(inputs):
            result = responses_answer(result, info.name, now)
    return to_js_dict(result)


def needs_thread(info: cat.ModelInfo) -> bool:
    """Whether answering ``info`` runs a real model (the ``cfemu[ai]`` embeddings): seconds of
    CPU per batch (measured, docs/ai.md), so the binding runs it off the event loop."""
    from cfemu.ai._minilm import installed

    return info.task == cat.TEXT_EMBEDDINGS and installed()


def check_options(options: Mapping[str, Any]) -> None:
    """Check the options object (``gateway``, ``returnRawResponse``, ``tags``...): accepted
    as the binding accepts them; the AI Gateway itself is not emulated (calls run locally)."""
    gateway = options.get("gateway")
    if gateway is not None:
        if not isinstance(gateway, Mapping):
            raise AiError(f"options.gateway must be an object, got {type(gateway).__name__}")
        if not isinstance(gateway.get("id"), str) or not gateway["id"]:
            raise AiError("options.gateway.id is required: the AI Gateway's id (a string)")
        unknown = sorted(set(gateway) - _GATEWAY_KEYS)
        if unknown:
            raise AiError(f"options.gateway has unknown keys {unknown}")
        retries = gateway.get("retries")
        if isinstance(retries, Mapping):
            attempts = retries.get("maxAttempts")
            if attempts is not None and not (isinstance(attempts, int) and 1 <= attempts <= 5):
                raise AiError(
                    f"options.gateway.retries.maxAttempts must be 1 to 5, got {attempts!r}"
                )
    tags = options.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or len(tags) > MAX_TAGS:
            raise AiError(f"options.tags must be a list of at most {MAX_TAGS} strings")
        for tag in tags:
            if not isinstance(tag, str) or len(tag) > MAX_TAG_LENGTH or not _TAG.fullmatch(tag):
                raise AiError(
                    f"options.tags: {tag!r} must be at most {MAX_TAG_LENGTH} letters, digits "
                    "or ': - . / @'"
                )
    if options.get("websocket"):
        raise NotEmulatedError("env.AI.run(..., websocket=True) is not emulated")
