"""Every task type of the catalogue: a good input answers in the schema's shape, a bad one is
refused with 5006 naming the field; unknown models are refused with 5007."""

from __future__ import annotations

import base64
import math
from typing import Any

import pytest

from cfemu.ai import AiBinding, AiSettings
from cfemu.ai.catalogue import CATALOGUE, TASKS
from cfemu.ai.png import PNG_SIGNATURE, encode_png, png_size
from cfemu.ai.stream import AiStream
from cfemu.clock import VirtualClock
from cfemu.errors import InferenceUpstreamError

pytestmark = pytest.mark.anyio

BAD = "5006: AiError: Bad input: Error: "
IMAGE = list(encode_png(40, 30, (10, 200, 30)))


def make(seed: int = 0) -> AiBinding:
    return AiBinding(VirtualClock(), settings=AiSettings(seed=seed))


async def refused(ai: AiBinding, model: str, inputs: Any) -> str:
    with pytest.raises(InferenceUpstreamError) as info:
        await ai.run(model, inputs)
    return str(info.value)


def test_the_catalogue_covers_every_task_type() -> None:
    assert {info.task for info in CATALOGUE.values()} == set(TASKS)


@pytest.mark.parametrize("model", ["@cf/nonexistent/model", "not-a-model", "@cf/meta/llama"])
async def test_unknown_models_are_refused_with_5007(model: str) -> None:
    message = await refused(make(), model, {"prompt": "hi"})
    assert message == f"5007: No such model {model} or task"


@pytest.mark.parametrize(
    ("model", "dims"),
    [
        ("@cf/baai/bge-small-en-v1.5", 384),
        ("@cf/baai/bge-base-en-v1.5", 768),
        ("@cf/baai/bge-large-en-v1.5", 1024),
        ("@cf/baai/bge-m3", 1024),
    ],
)
async def test_embeddings_have_the_model_dimension_and_unit_length(model: str, dims: int) -> None:
    ai = make()
    out = await ai.run(model, {"text": ["a cat sat", "a cat sat", "stock prices fell"]})
    assert out.shape == [3, dims] and out.pooling == "mean"
    assert all(len(row) == dims for row in out.data)
    assert all(math.isclose(sum(x * x for x in row), 1.0, rel_tol=1e-6) for row in out.data)
    assert out.data[0] == out.data[1] != out.data[2]
    single = await ai.run(model, {"text": "a cat sat", "pooling": "cls"})
    assert single.shape == [1, dims] and single.pooling == "cls"
    assert single.data[0] != out.data[0]  # cls and mean vectors differ, as on Cloudflare


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [
        ({}, "required properties at '/' are 'text'"),
        ({"text": 5}, "anyOf at '/text' not met"),
        ({"text": ""}, "'/text' must NOT have fewer than 1 characters"),
        ({"text": ["ok", ""]}, "'/text/1' must NOT have fewer than 1 characters"),
        ({"text": ["x"] * 101}, "'/text' must NOT have more than 100 items"),
        ({"text": "x", "pooling": "max"}, "'/pooling' must be one of 'mean', 'cls'"),
    ],
)
async def test_embeddings_refuse_bad_input(inputs: dict[str, Any], reason: str) -> None:
    message = await refused(make(), "@cf/baai/bge-base-en-v1.5", inputs)
    assert message.startswith(BAD) and reason in message


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_hashed_embeddings_score_shared_words_higher() -> None:
    out = await make().run(
        "@cf/baai/bge-small-en-v1.5",
        {"text": ["the queue retries messages", "queue messages are retried", "bananas are ripe"]},
    )
    a, b, c = out.data
    assert cosine(a, b) > cosine(a, c)


async def test_text_classification() -> None:
    ai = make()
    model = "@cf/huggingface/distilbert-sst-2-int8"
    good = await ai.run(model, {"text": "I love this, it is wonderful"})
    bad = await ai.run(model, {"text": "terrible, I hate it"})
    for out in (good, bad):
        assert {item.label for item in out} == {"POSITIVE", "NEGATIVE"}
        assert math.isclose(sum(item.score for item in out), 1.0)
        assert out[0].score >= out[1].score
    assert good[0].label == "POSITIVE" and bad[0].label == "NEGATIVE"
    assert "required properties at '/' are 'text'" in await refused(ai, model, {"txt": "x"})


async def test_translation() -> None:
    ai = make()
    model = "@cf/meta/m2m100-1.2b"
    out = await ai.run(model, {"text": "Hello", "target_lang": "french"})
    assert set(out) == {"translated_text"} and "Hello" in out.translated_text
    assert "french" in out.translated_text
    message = await refused(ai, model, {"text": "Hello"})
    assert message == BAD + "required properties at '/' are 'target_lang'"


async def test_summarization() -> None:
    ai = make()
    model = "@cf/facebook/bart-large-cnn"
    text = " ".join(f"word{i}" for i in range(90))
    out = await ai.run(model, {"input_text": text, "max_length": 10})
    assert set(out) == {"summary"} and len(out.summary.split()) == 10
    assert text.startswith(out.summary)
    message = await refused(ai, model, {"input_text": text, "max_length": "long"})
    assert message == BAD + "Type mismatch of '/max_length', 'string' not in 'integer'"


async def test_image_classification_takes_a_byte_array_or_raw_bytes() -> None:
    ai = make()
    model = "@cf/microsoft/resnet-50"
    out = await ai.run(model, {"image": IMAGE})
    assert len(out) == 5 and all(set(item) == {"label", "score"} for item in out)
    scores = [item.score for item in out]
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0 + 1e-9
    assert (await ai.run(model, bytes(IMAGE))) == out  # raw binary, as Workers AI takes it
    message = await refused(ai, model, {"image": [1, 2, 300]})
    assert message == BAD + "'/image/2' must be <= 255, got 300"


async def test_object_detection_boxes_lie_inside_a_png_image() -> None:
    ai = make()
    model = "@cf/facebook/detr-resnet-50"
    out = await ai.run(model, {"image": IMAGE})
    assert out and all(set(item) == {"score", "label", "box"} for item in out)
    for item in out:
        box = item.box
        assert 0 <= box.xmin <= box.xmax <= 40 and 0 <= box.ymin <= box.ymax <= 30
    message = await refused(ai, model, {"image": "not bytes"})
    assert message == BAD + "Type mismatch of '/image', 'string' not in 'array'"


async def test_speech_recognition() -> None:
    ai = make()
    model = "@cf/openai/whisper"
    out = await ai.run(model, {"audio": [0] * 40000})
    assert isinstance(out.text, str) and out.text
    assert out.word_count == len(out.words) == len(out.text.split())
    assert all(w.start < w.end for w in out.words)
    assert out.vtt.startswith("WEBVTT")
    assert "required properties at '/' are 'audio'" in await refused(ai, model, {})


@pytest.mark.parametrize(("width", "height"), [(256, 256), (512, 320)])
async def test_text_to_image_answers_png_bytes_of_the_requested_size(
    width: int, height: int
) -> None:
    ai = make()
    model = "@cf/stabilityai/stable-diffusion-xl-base-1.0"
    out = await ai.run(model, {"prompt": "a lighthouse", "width": width, "height": height})
    assert isinstance(out, AiStream) and out.content_type == "image/png"
    chunks = [bytes(chunk.to_py()) async for chunk in out]
    png = b"".join(chunks)
    assert png.startswith(PNG_SIGNATURE) and png_size(png) == (width, height)
    message = await refused(ai, model, {"prompt": "x", "num_steps": 50})
    assert message == BAD + "'/num_steps' must be <= 20, got 50"


async def test_flux_answers_a_base64_png() -> None:
    ai = make()
    out = await ai.run("@cf/black-forest-labs/flux-1-schnell", {"prompt": "a cat", "steps": 4})
    assert png_size(base64.b64decode(out.image)) == (1024, 1024)
    message = await refused(ai, "@cf/black-forest-labs/flux-1-schnell", {"prompt": "x" * 2049})
    assert message == BAD + "'/prompt' must NOT have more than 2048 characters"


async def test_image_to_text() -> None:
    ai = make()
    model = "@cf/llava-hf/llava-1.5-7b-hf"
    out = await ai.run(model, {"image": IMAGE, "prompt": "What is this?"})
    assert set(out) == {"description"} and "40x30" in out.description
    message = await refused(ai, model, {"prompt": "no image"})
    assert message == BAD + "required properties at '/' are 'image'"


async def test_text_generation_checks_sampling_fields_and_honours_max_tokens() -> None:
    ai = make()
    model = "@cf/meta/llama-3.1-8b-instruct"
    out = await ai.run(model, {"prompt": "Explain queues and retries at length", "max_tokens": 3})
    assert len(out.response.split()) == 3
    message = await refused(ai, model, {"prompt": "hi", "temperature": 9})
    assert message == BAD + "'/temperature' must be <= 5, got 9"
    message = await refused(ai, model, {"input": "Responses style is gpt-oss's"})
    assert message.startswith(BAD + "oneOf at '/' not met, 0 matches")


async def test_tools_give_tool_calls_until_a_tool_answers() -> None:
    ai = make()
    model = "@cf/meta/llama-3.1-8b-instruct"
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    ask = {"role": "user", "content": "Weather in Paris?"}
    out = await ai.run(model, {"messages": [ask], "tools": [tool]})
    assert out.tool_calls == [{"name": "get_weather", "arguments": {"city": "Weather in Paris?"}}]
    answered = [ask, {"role": "tool", "content": "sunny"}]
    final = await ai.run(model, {"messages": answered, "tools": [tool]})
    assert "tool_calls" not in final and final.response


async def test_answers_are_deterministic_for_a_seed() -> None:
    model = "@cf/microsoft/resnet-50"
    first = await make(seed=3).run(model, {"image": IMAGE})
    assert first == await make(seed=3).run(model, {"image": IMAGE})
    others = [await make(seed=s).run(model, {"image": IMAGE}) for s in range(4, 9)]
    assert any(other != first for other in others)
