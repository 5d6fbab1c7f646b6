"""The built-in local model: a fast, deterministic stand-in for Workers AI text generation.

It is not a language model. Its answer is a short sentence built from the question's own
words and a digest of (seed, model, inputs), so the same inputs always give the same answer,
different inputs give different answers, and tests can assert on it. It exists so that demos
and tests exercise the whole pipeline (latency, failures, retries) without a network or an
account; use a registered model or ``mode="remote"`` for real answers.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from cfemu.ai.inputs import input_text

__all__ = ["LOCAL_MODEL_MARKER", "estimate_tokens", "local_answer"]

#: Every built-in answer ends with this marker, so nobody mistakes it for a real model's.
LOCAL_MODEL_MARKER = "cfemu local model"

_WORD = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)
_OPENERS = ("In short", "Put simply", "Briefly", "To summarise", "At its core")
_LINKS = ("comes down to", "mostly concerns", "hinges on", "is about")
_STOP_WORDS = (
    "about after also been being between could does doing from have into just like more most "
    "much only other over should some such than that their them then there these they this "
    "those through under very what when where which while with would your"
)
_STOP = frozenset(_STOP_WORDS.split())


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters per token), at least 1 for non-empty text."""
    return math.ceil(len(text) / 4) if text else 0


def _keywords(text: str, count: int = 3) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    candidates = [w for w in words if len(w) >= 4 and w not in _STOP]
    if not candidates:
        candidates = words
    ranked = Counter(candidates).most_common()
    # most frequent first; ties keep first-seen order (Counter preserves insertion order)
    return [word for word, _ in ranked[:count]]


def _snippet(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def local_answer(model: str, inputs: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Answer validated text-generation ``inputs`` deterministically.

    Returns ``{"response": str, "usage": {prompt_tokens, completion_tokens, total_tokens}}``.
    ``inputs["seed"]`` (a Workers AI input) is mixed with ``seed``; ``inputs["max_tokens"]``
    caps the answer's length in words.
    """
    question, context = input_text(inputs)
    request_seed = inputs.get("seed", "")
    digest = hashlib.sha256(
        f"{seed}\x00{request_seed}\x00{model}\x00{context}\x00{question}".encode()
    ).hexdigest()
    rng = random.Random(digest)
    keywords = _keywords(question) or ["nothing"]
    topic = ", ".join(keywords[:-1]) + " and " + keywords[-1] if len(keywords) > 1 else keywords[0]
    response = (
        f'{rng.choice(_OPENERS)}, "{_snippet(question)}" {rng.choice(_LINKS)} {topic}. '
        f"[{LOCAL_MODEL_MARKER} {model}, answer {digest[:8]}]"
    )
    max_tokens = inputs.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
        words = response.split()
        if len(words) > max_tokens:
            response = " ".join(words[:max_tokens])
    prompt_tokens = estimate_tokens(context) + estimate_tokens(question)
    completion_tokens = estimate_tokens(response)
    return {
        "response": response,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def responses_answer(answer: dict[str, Any], model: str, created_at: int) -> dict[str, Any]:
    """``answer`` (from :func:`local_answer`) shaped as a Responses object, as
    ``@cf/openai/gpt-oss-*`` answer Responses-style ``input``: ``{id, object: "response",
    created_at, model, status, output: [message], output_text, usage}``."""
    text = answer["response"]
    usage = answer["usage"]
    ident = hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()[:32]
    return {
        "id": f"resp_{ident}",
        "object": "response",
        "created_at": created_at,
        "model": model,
        "status": "completed",
        "output": [
            {
                "id": f"msg_{ident}",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "output_text": text,
        "usage": {
            "input_tokens": usage["prompt_tokens"],
            "output_tokens": usage["completion_tokens"],
            "total_tokens": usage["total_tokens"],
        },
    }
