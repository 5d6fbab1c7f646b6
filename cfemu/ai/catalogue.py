"""The Workers AI model catalogue: each model's task type and a compact input schema.

Facts from Cloudflare's published model schemas (spec: kv-assets-workflows-ai.md §4.2, §4.3),
re-expressed as cfemu's own data: a JSON-Schema subset (``type``, ``properties``,
``required``, ``minimum``/``maximum``, ``minLength``/``maxLength``, ``minItems``/``maxItems``,
``items``, ``enum``, ``anyOf``) that :mod:`cfemu.ai.schema` checks. The output shape is
produced by :mod:`cfemu.ai.tasks` per task type. A model not listed here is refused by the
local binding with Cloudflare's ``5007: No such model <model> or task``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CATALOGUE",
    "TASKS",
    "ModelInfo",
    "describe_models",
    "find_model",
]

#: Cloudflare's task names, as ``env.AI.models()`` and the model pages name them.
TEXT_GENERATION = "Text Generation"
TEXT_EMBEDDINGS = "Text Embeddings"
TEXT_CLASSIFICATION = "Text Classification"
TRANSLATION = "Translation"
SUMMARIZATION = "Summarization"
IMAGE_CLASSIFICATION = "Image Classification"
OBJECT_DETECTION = "Object Detection"
SPEECH_RECOGNITION = "Automatic Speech Recognition"
TEXT_TO_IMAGE = "Text-to-Image"
IMAGE_TO_TEXT = "Image-to-Text"
#: Every task type the catalogue knows, in the order ``cfemu ai models`` lists them.
TASKS = (
    TEXT_GENERATION,
    TEXT_EMBEDDINGS,
    TEXT_CLASSIFICATION,
    TRANSLATION,
    SUMMARIZATION,
    IMAGE_CLASSIFICATION,
    OBJECT_DETECTION,
    SPEECH_RECOGNITION,
    TEXT_TO_IMAGE,
    IMAGE_TO_TEXT,
)


@dataclass(frozen=True)
class ModelInfo:
    """One catalogue entry: the model's name, task type, input schema and output facts.

    ``schema`` is the input's JSON-Schema subset; ``output`` a one-line description of the
    answer's shape; ``dimensions`` the vector size of an embedding model; ``binary_input``
    the field a raw binary input (bytes) fills; ``png_output`` whether the model answers
    raw ``image/png`` bytes (else JSON); ``tools`` whether text generation takes ``tools``;
    ``responses`` whether it takes Responses-style ``input``.
    """

    name: str
    task: str
    description: str
    schema: Mapping[str, Any]
    output: str
    dimensions: int | None = None
    binary_input: str | None = None
    png_output: bool = False
    tools: bool = False
    responses: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


# --- schema builders (cfemu's own compact notation) -----------------------------------------
def _obj(required: tuple[str, ...] = (), **properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


def _num(lo: float | None = None, hi: float | None = None, kind: str = "number") -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind}
    if lo is not None:
        out["minimum"] = lo
    if hi is not None:
        out["maximum"] = hi
    return out


def _int(lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    return _num(lo, hi, "integer")


def _str(min_length: int | None = None, max_length: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string"}
    if min_length is not None:
        out["minLength"] = min_length
    if max_length is not None:
        out["maxLength"] = max_length
    return out


_BOOL: dict[str, Any] = {"type": "boolean"}
_BYTES: dict[str, Any] = {"type": "array", "items": _int(0, 255)}
_ANY: dict[str, Any] = {}

# Sampling fields shared by the text-generation schemas (llama-3.x ranges).
_SAMPLING: dict[str, Mapping[str, Any]] = {
    "raw": _BOOL,
    "stream": _BOOL,
    "max_tokens": _int(1),
    "temperature": _num(0, 5),
    "top_p": _num(0.001, 2),
    "top_k": _int(1, 50),
    "seed": _int(1, 9999999999),
    "repetition_penalty": _num(0, 2),
    "frequency_penalty": _num(-2, 2),
    "presence_penalty": _num(-2, 2),
    "lora": _str(),
    "response_format": {"type": "object"},
    "tools": {"type": "array", "items": {"type": "object"}},
    "functions": {"type": "array", "items": {"type": "object"}},
}
_TEXT_GEN = {"type": "object", "properties": _SAMPLING, "required": []}
_RESPONSES = {
    "type": "object",
    "properties": {
        **_SAMPLING,
        "instructions": _str(),
        "max_output_tokens": _int(1),
        "reasoning": {"type": "object"},
        "tool_choice": _ANY,
        "text": {"type": "object"},
    },
    "required": [],
}
_TEXT_GEN_OUT = "{response, usage, tool_calls?}; stream: text/event-stream"


def _llm(name: str, description: str, *, tools: bool = False) -> ModelInfo:
    return ModelInfo(name, TEXT_GENERATION, description, _TEXT_GEN, _TEXT_GEN_OUT, tools=tools)


def _gpt_oss(name: str, size: str) -> ModelInfo:
    return ModelInfo(
        name,
        TEXT_GENERATION,
        f"OpenAI's open-weight {size} model; Responses-style input or messages",
        _RESPONSES,
        "Responses object {id, object, output, output_text, usage, status} or {response, usage}",
        tools=True,
        responses=True,
    )


def _embedding(name: str, dims: int, description: str) -> ModelInfo:
    schema = _obj(
        ("text",),
        text={
            "anyOf": [
                _str(1),
                {"type": "array", "items": _str(1), "minItems": 1, "maxItems": 100},
            ]
        },
        pooling={"type": "string", "enum": ["mean", "cls"]},
    )
    out = f"{{shape: [n, {dims}], data: [[float]], pooling}}"
    return ModelInfo(name, TEXT_EMBEDDINGS, description, schema, out, dimensions=dims)


def _text_to_image(name: str, description: str) -> ModelInfo:
    schema = _obj(
        ("prompt",),
        prompt=_str(1),
        negative_prompt=_str(),
        height=_int(256, 2048),
        width=_int(256, 2048),
        image=_BYTES,
        image_b64=_str(),
        mask=_BYTES,
        num_steps=_int(1, 20),
        strength=_num(0, 1),
        guidance=_num(),
        seed=_int(0),
    )
    return ModelInfo(name, TEXT_TO_IMAGE, description, schema, "image/png bytes", png_output=True)


def _image_to_text(name: str, description: str) -> ModelInfo:
    schema = _obj(
        ("image",),
        image={"anyOf": [_BYTES, _str(1)]},
        prompt=_str(),
        max_tokens=_int(1),
        temperature=_num(0, 5),
        top_p=_num(0, 2),
        top_k=_int(1, 50),
        seed=_int(1, 9999999999),
        repetition_penalty=_num(0, 2),
        frequency_penalty=_num(-2, 2),
        presence_penalty=_num(-2, 2),
        raw=_BOOL,
    )
    return ModelInfo(
        name, IMAGE_TO_TEXT, description, schema, "{description}", binary_input="image"
    )


_WHISPER = _obj(("audio",), audio=_BYTES)
_WHISPER_OUT = "{text, word_count?, words?: [{word, start, end}], vtt?}"

_MODELS: tuple[ModelInfo, ...] = (
    _llm("@cf/meta/llama-3.1-8b-instruct", "Meta Llama 3.1 8B instruct", tools=True),
    _llm("@cf/meta/llama-3.1-8b-instruct-fp8", "Llama 3.1 8B instruct, fp8", tools=True),
    _llm("@cf/meta/llama-3.1-8b-instruct-fast", "Llama 3.1 8B instruct, fast"),
    _llm("@cf/meta/llama-3.1-70b-instruct", "Meta Llama 3.1 70B instruct"),
    _llm("@cf/meta/llama-3.2-1b-instruct", "Meta Llama 3.2 1B instruct"),
    _llm("@cf/meta/llama-3.2-3b-instruct", "Meta Llama 3.2 3B instruct"),
    _llm(
        "@cf/meta/llama-3.3-70b-instruct-fp8-fast", "Llama 3.3 70B instruct, fp8, fast", tools=True
    ),
    _llm("@cf/meta/llama-3-8b-instruct", "Meta Llama 3 8B instruct"),
    _llm("@cf/meta/llama-4-scout-17b-16e-instruct", "Meta Llama 4 Scout", tools=True),
    _llm("@cf/mistral/mistral-7b-instruct-v0.1", "Mistral 7B instruct v0.1"),
    _llm("@cf/mistralai/mistral-small-3.1-24b-instruct", "Mistral Small 3.1 24B", tools=True),
    _llm("@cf/google/gemma-3-12b-it", "Google Gemma 3 12B instruct"),
    _llm("@cf/qwen/qwen2.5-coder-32b-instruct", "Qwen 2.5 Coder 32B instruct"),
    _llm("@cf/qwen/qwq-32b", "Qwen QwQ 32B reasoning model"),
    _llm("@cf/deepseek-ai/deepseek-r1-distill-qwen-32b", "DeepSeek R1 distilled into Qwen 32B"),
    _llm("@hf/nousresearch/hermes-2-pro-mistral-7b", "Hermes 2 Pro, function calling", tools=True),
    _gpt_oss("@cf/openai/gpt-oss-120b", "120B"),
    _gpt_oss("@cf/openai/gpt-oss-20b", "20B"),
    _embedding("@cf/baai/bge-small-en-v1.5", 384, "BAAI general embedding, small, English"),
    _embedding("@cf/baai/bge-base-en-v1.5", 768, "BAAI general embedding, base, English"),
    _embedding("@cf/baai/bge-large-en-v1.5", 1024, "BAAI general embedding, large, English"),
    _embedding(
        "@cf/baai/bge-m3", 1024, "BAAI multilingual embedding (1024: upstream config, unconfirmed)"
    ),
    ModelInfo(
        "@cf/huggingface/distilbert-sst-2-int8",
        TEXT_CLASSIFICATION,
        "DistilBERT sentiment (SST-2), int8",
        _obj(("text",), text=_str(1)),
        "[{label: POSITIVE|NEGATIVE, score}]",
    ),
    ModelInfo(
        "@cf/meta/m2m100-1.2b",
        TRANSLATION,
        "Meta M2M100 many-to-many translation",
        _obj(("text", "target_lang"), text=_str(1), target_lang=_str(1), source_lang=_str(1)),
        "{translated_text}",
    ),
    ModelInfo(
        "@cf/facebook/bart-large-cnn",
        SUMMARIZATION,
        "BART large, fine-tuned on CNN/Daily Mail",
        _obj(("input_text",), input_text=_str(1), max_length=_int(1)),
        "{summary}",
    ),
    ModelInfo(
        "@cf/microsoft/resnet-50",
        IMAGE_CLASSIFICATION,
        "ResNet-50 ImageNet classifier",
        _obj(("image",), image=_BYTES),
        "[{label, score}]",
        binary_input="image",
    ),
    ModelInfo(
        "@cf/facebook/detr-resnet-50",
        OBJECT_DETECTION,
        "DETR object detection (COCO labels)",
        _obj(("image",), image=_BYTES),
        "[{score, label, box: {xmin, ymin, xmax, ymax}}]",
        binary_input="image",
    ),
    ModelInfo(
        "@cf/openai/whisper",
        SPEECH_RECOGNITION,
        "OpenAI Whisper speech recognition",
        _WHISPER,
        _WHISPER_OUT,
        binary_input="audio",
    ),
    ModelInfo(
        "@cf/openai/whisper-tiny-en",
        SPEECH_RECOGNITION,
        "OpenAI Whisper tiny, English",
        _WHISPER,
        _WHISPER_OUT,
        binary_input="audio",
    ),
    _text_to_image("@cf/stabilityai/stable-diffusion-xl-base-1.0", "Stable Diffusion XL base"),
    _text_to_image("@cf/bytedance/stable-diffusion-xl-lightning", "SDXL Lightning"),
    _text_to_image("@cf/lykon/dreamshaper-8-lcm", "DreamShaper 8 LCM"),
    ModelInfo(
        "@cf/black-forest-labs/flux-1-schnell",
        TEXT_TO_IMAGE,
        "FLUX.1 [schnell]; answers JSON with a base64 image",
        _obj(("prompt",), prompt=_str(1, 2048), steps=_int(1, 8)),
        "{image: base64}",
        notes=("production answers a JPEG; cfemu encodes a PNG",),
    ),
    _image_to_text("@cf/llava-hf/llava-1.5-7b-hf", "LLaVA 1.5 7B image captioning"),
    _image_to_text("@cf/unum/uform-gen2-qwen-500m", "UForm-Gen2 small image captioning"),
)

#: Every model cfemu answers locally, by name.
CATALOGUE: Mapping[str, ModelInfo] = {info.name: info for info in _MODELS}


def describe_models(task: object = None, search: object = None) -> list[dict[str, Any]]:
    """The catalogue in ``env.AI.models()``'s shape, optionally filtered."""
    out = []
    for info in _MODELS:
        if isinstance(task, str) and info.task.casefold() != task.casefold():
            continue
        if isinstance(search, str) and search.casefold() not in info.name.casefold():
            continue
        task_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cfemu-task:{info.task}"))
        out.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cfemu-model:{info.name}")),
                "source": 1,
                "name": info.name,
                "description": info.description,
                "task": {"id": task_id, "name": info.task, "description": info.task},
                "tags": [],
                "properties": [],
            }
        )
    return out


def find_model(name: str) -> ModelInfo | None:
    """The catalogue entry named ``name``, or ``None``."""
    return CATALOGUE.get(name)
