"""Answers of the built-in local models, one function per Workers AI task type.

Each answer has the shape of the model's published output schema (spec:
kv-assets-workflows-ai.md §4.2) and is a function of (seed, model, inputs) only, so tests
can assert on it. None of them is real inference (embeddings excepted with the ``cfemu[ai]``
extra); they are stand-ins that keep a Worker's code paths honest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Callable, Mapping
from typing import Any

from cfemu.ai import catalogue as cat
from cfemu.ai.embeddings import embed
from cfemu.ai.local import LOCAL_MODEL_MARKER, estimate_tokens, local_answer
from cfemu.ai.png import encode_png, png_size

__all__ = ["answer", "rng_for", "tool_calls"]

_POSITIVE = frozenset(
    [
        "good",
        "great",
        "love",
        "loved",
        "excellent",
        "happy",
        "wonderful",
        "nice",
        "best",
        "amazing",
        "like",
        "fantastic",
        "enjoy",
        "enjoyed",
        "pleasant",
        "superb",
        "awesome",
        "brilliant",
        "delightful",
        "perfect",
    ]
)
_NEGATIVE = frozenset(
    [
        "bad",
        "terrible",
        "hate",
        "hated",
        "awful",
        "sad",
        "worst",
        "poor",
        "horrible",
        "boring",
        "broken",
        "angry",
        "ugly",
        "dislike",
        "disappointing",
        "disappointed",
        "useless",
        "slow",
        "fail",
        "failed",
    ]
)
# A few ImageNet and COCO label names: enough variety for a stand-in classifier.
_IMAGENET = (
    "tabby cat",
    "golden retriever",
    "sports car",
    "espresso",
    "mountain bike",
    "lighthouse",
    "daisy",
    "laptop",
    "teddy bear",
    "container ship",
)
_COCO = ("person", "bicycle", "car", "dog", "cat", "chair", "bottle", "cup", "laptop", "bird")
_SPEECH = [
    "the",
    "queue",
    "retried",
    "the",
    "message",
    "after",
    "a",
    "short",
    "delay",
    "and",
    "the",
    "worker",
    "acknowledged",
    "it",
    "once",
    "the",
    "database",
    "write",
    "succeeded",
]


def rng_for(seed: int, model: str, inputs: Mapping[str, Any]) -> random.Random:
    """An RNG determined by the seed, the model and the inputs (byte arrays included)."""
    blob = json.dumps(inputs, sort_keys=True, default=repr)
    digest = hashlib.sha256(f"{seed}\x00{model}\x00{blob}".encode()).hexdigest()
    return random.Random(digest)


def _scores(rng: random.Random, count: int) -> list[float]:
    weights = [rng.random() ** 3 for _ in range(count)]
    total = sum(weights) or 1.0
    return sorted((w / total for w in weights), reverse=True)


def _image_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=False)
        except ValueError:
            return value.encode()
    return bytes(value)


def tool_calls(inputs: Mapping[str, Any], question: str) -> list[dict[str, Any]] | None:
    """A call of the first tool in ``inputs["tools"]``, unless the conversation already ends
    with a tool's result. Arguments fill each required parameter with the question's text."""
    tools = inputs.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    messages = inputs.get("messages")
    if isinstance(messages, list) and messages and messages[-1].get("role") == "tool":
        return None
    tool = tools[0]
    spec = tool.get("function", tool) if isinstance(tool, Mapping) else {}
    name = str(spec.get("name", "tool"))
    params = spec.get("parameters") or {}
    props = params.get("properties") or {}
    wanted = params.get("required") or list(props)[:1]
    arguments: dict[str, Any] = {}
    for param in wanted:
        kind = (props.get(param) or {}).get("type")
        arguments[param] = 0 if kind in ("number", "integer") else question
    return [{"name": name, "arguments": arguments}]


def _text_generation(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> Any:
    from cfemu.ai.inputs import input_text

    out = local_answer(info.name, inputs, seed)
    if info.tools:
        calls = tool_calls(inputs, input_text(inputs)[0])
        if calls is not None:
            out["response"] = ""
            out["tool_calls"] = calls
    return out


def _embeddings(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> Any:
    text = inputs["text"]
    texts = [text] if isinstance(text, str) else list(text)
    pooling = inputs.get("pooling") or "mean"
    dims = info.dimensions or 768
    data = embed(texts, dims, pooling, info.name)
    return {"shape": [len(texts), dims], "data": data, "pooling": pooling}


def _classification(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> Any:
    words = [w.strip(".,!?;:\"'").lower() for w in inputs["text"].split()]
    lean = sum(w in _POSITIVE for w in words) - sum(w in _NEGATIVE for w in words)
    rng = rng_for(seed, info.name, inputs)
    positive = min(0.99, max(0.01, 0.5 + 0.2 * lean + rng.uniform(-0.05, 0.05)))
    labels = [
        {"label": "POSITIVE", "score": positive},
        {"label": "NEGATIVE", "score": 1 - positive},
    ]
    return sorted(labels, key=lambda item: -float(item["score"]))


def _translation(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> Any:
    source = inputs.get("source_lang") or "en"
    return {
        "translated_text": f"{inputs['text']} [{LOCAL_MODEL_MARKER}: {source}->"
        f"{inputs['target_lang']}]"
    }


def _summarization(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> Any:
    text = " ".join(inputs["input_text"].split())
    limit = int(inputs.get("max_length") or 1024)
    words = text.split()
    cut = min(len(words), max(1, limit), max(8, len(words) // 3))
    return {"summary": " ".join(words[:cut])}


def _image_classification(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> Any:
    rng = rng_for(seed, info.name, inputs)
    labels = rng.sample(_IMAGENET, 5)
    return [
        {"label": label, "score": score}
        for label, score in zip(labels, _scores(rng, 5), strict=True)
    ]


def _object_detection(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> Any:
    rng = rng_for(seed, info.name, inputs)
    width, height = png_size(_image_bytes(inputs["image"])) or (640, 480)
    found = []
    for _ in range(rng.randint(1, 4)):
        x0, x1 = sorted(rng.uniform(0, width) for _ in range(2))
        y0, y1 = sorted(rng.uniform(0, height) for _ in range(2))
        box = {"xmin": round(x0), "ymin": round(y0), "xmax": round(x1), "ymax": round(y1)}
        found.append(
            {"score": round(rng.uniform(0.5, 1.0), 4), "label": rng.choice(_COCO), "box": box}
        )
    return sorted(found, key=lambda item: -float(item["score"]))


def _vtt_time(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):02d}:{secs:06.3f}"


def _speech(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> Any:
    rng = rng_for(seed, info.name, inputs)
    audio = inputs["audio"]
    # ~16 kB per second of audio; at least one word
    count = max(1, min(len(_SPEECH), len(audio) // 8000 + 1))
    start = rng.randrange(len(_SPEECH))
    spoken = [_SPEECH[(start + i) % len(_SPEECH)] for i in range(count)]
    timed: list[tuple[str, float, float]] = []
    clock = 0.0
    for word in spoken:
        end = round(clock + 0.2 + 0.05 * len(word), 2)
        timed.append((word, round(clock, 2), end))
        clock = end
    words = [{"word": w, "start": start, "end": end} for w, start, end in timed]
    text = " ".join(spoken)
    vtt = "WEBVTT\n\n" + "".join(
        f"{_vtt_time(start)} --> {_vtt_time(end)}\n{w}\n\n" for w, start, end in timed
    )
    return {"text": text, "word_count": len(words), "words": words, "vtt": vtt}


def _png_for(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> bytes:
    rng = rng_for(seed, info.name, inputs)
    width = int(inputs.get("width") or 1024)
    height = int(inputs.get("height") or 1024)
    color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    return encode_png(width, height, color, band=rng.randrange(256))


def _text_to_image(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> Any:
    png = _png_for(info, inputs, seed)
    if info.png_output:
        return png
    return {"image": base64.b64encode(png).decode("ascii")}


def _image_to_text(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> Any:
    rng = rng_for(seed, info.name, inputs)
    size = png_size(_image_bytes(inputs["image"]))
    shape = f"a {size[0]}x{size[1]} PNG" if size else "an image"
    subject = rng.choice(_IMAGENET)
    text = f"{shape} showing a {subject}. [{LOCAL_MODEL_MARKER} {info.name}]"
    max_tokens = inputs.get("max_tokens")
    if isinstance(max_tokens, int) and estimate_tokens(text) > max_tokens:
        text = " ".join(text.split()[: max(1, max_tokens)])
    return {"description": text}


_ANSWERS: dict[str, Callable[[cat.ModelInfo, Mapping[str, Any], int], Any]] = {
    cat.TEXT_GENERATION: _text_generation,
    cat.TEXT_EMBEDDINGS: _embeddings,
    cat.TEXT_CLASSIFICATION: _classification,
    cat.TRANSLATION: _translation,
    cat.SUMMARIZATION: _summarization,
    cat.IMAGE_CLASSIFICATION: _image_classification,
    cat.OBJECT_DETECTION: _object_detection,
    cat.SPEECH_RECOGNITION: _speech,
    cat.TEXT_TO_IMAGE: _text_to_image,
    cat.IMAGE_TO_TEXT: _image_to_text,
}


def answer(info: cat.ModelInfo, inputs: Mapping[str, Any], seed: int) -> Any:
    """The local answer of ``info``'s task to validated ``inputs``: JSON-able data, or PNG
    bytes for the models whose output is ``image/png``."""
    return _ANSWERS[info.task](info, inputs, seed)
