"""Embeddings per second of the local Workers AI embedding models (on demand).

Run: ``python benchmarks/bench_ai_embeddings.py [--texts N] [--batch B]``. Not collected by
pytest. Calls ``env.AI.run(model, {"text": [...]})`` on the binding for bge-small (384),
bge-base (768) and bge-large (1024), in batches of ``B`` texts (Workers AI takes at most
100), and prints embeddings per second: hashed vectors without the ``cfemu[ai]`` extra, the
real all-MiniLM-L6-v2 model with it (its one-off load time is printed apart).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from cfemu.ai import AiBinding
from cfemu.ai.embeddings import real_backend
from cfemu.clock import RealClock

MODELS = ("@cf/baai/bge-small-en-v1.5", "@cf/baai/bge-base-en-v1.5", "@cf/baai/bge-large-en-v1.5")


async def rate(ai: AiBinding, model: str, texts: list[str], batch: int) -> float:
    started = time.perf_counter()
    for at in range(0, len(texts), batch):
        out = await ai.run(model, {"text": texts[at : at + batch]})
        assert len(out.data) == len(texts[at : at + batch])
    return len(texts) / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    started = time.perf_counter()
    backend = real_backend()
    kind = "real all-MiniLM-L6-v2 (cfemu[ai])" if backend else "hashed vectors (no extra)"
    print(f"backend: {kind}; loaded in {time.perf_counter() - started:.1f} s")
    texts = [f"Message {i}: the queue retried delivery {i % 7} times." for i in range(args.texts)]
    ai = AiBinding(RealClock())
    for model in MODELS:
        per_second = await rate(ai, model, texts, args.batch)
        print(
            f"{model:32} {per_second:10.0f} embeddings/s  ({args.texts} texts, batch {args.batch})"
        )


if __name__ == "__main__":
    asyncio.run(main())
