"""``mode="remote"`` against cfemu's own REST API emulation: JSON answers, PNG bytes and
server-sent events come back as the binding returns them on Cloudflare."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cfemu import Emulator, VirtualClock
from cfemu.ai import AiBinding, AiSettings
from cfemu.ai.png import png_size
from cfemu.ai.stream import AiStream
from cfemu.api import api_app
from cfemu.errors import InferenceUpstreamError

pytestmark = pytest.mark.anyio

ACCOUNT = "0123456789abcdef0123456789abcdef"


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Emulator, AiBinding]]:
    (tmp_path / "worker.py").write_text(
        "from workers import Response, WorkerEntrypoint\n\n\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n"
        "        return Response('ok')\n"
    )
    config = tmp_path / "wrangler.toml"
    config.write_text(
        'name = "cloud"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
        '[ai]\nbinding = "AI"\n'
    )
    async with Emulator.from_config(config, clock=VirtualClock()) as cloud:
        transport = httpx.ASGITransport(app=api_app(cloud))
        remote = AiBinding(
            VirtualClock(),
            settings=AiSettings(
                mode="remote",
                account_id=ACCOUNT,
                api_token="token",
                base_url="http://cfemu.local/client/v4",
            ),
            transport=transport,
        )
        yield cloud, remote
        await remote.aclose()


async def test_remote_embeddings_have_the_local_shape(pair: tuple[Emulator, AiBinding]) -> None:
    cloud, remote = pair
    model = "@cf/baai/bge-large-en-v1.5"
    out = await remote.run(model, {"text": ["hello there"]})
    assert (
        out.shape == [1, 1024]
        and out.data == (await cloud.ai.run(model, {"text": ["hello there"]})).data
    )


async def test_remote_image_and_stream_are_readable_streams(
    pair: tuple[Emulator, AiBinding],
) -> None:
    _, remote = pair
    image = await remote.run(
        "@cf/stabilityai/stable-diffusion-xl-base-1.0",
        {"prompt": "a dog", "width": 256, "height": 512},
    )
    assert isinstance(image, AiStream) and image.content_type == "image/png"
    assert png_size(image.to_bytes()) == (256, 512)
    stream = await remote.run(
        "@cf/meta/llama-3.1-8b-instruct", {"prompt": "hi there", "stream": True}
    )
    chunks = [bytes(chunk.to_py()) async for chunk in stream]
    assert len(chunks) > 2 and chunks[-1] == b"data: [DONE]\n\n"
    assert all(json.loads(c[6:]) for c in chunks[:-1])


async def test_remote_unknown_model_and_bad_input_keep_their_codes(
    pair: tuple[Emulator, AiBinding],
) -> None:
    _, remote = pair
    with pytest.raises(InferenceUpstreamError, match=r"^5007: No such model @cf/x/y or task$"):
        await remote.run("@cf/x/y", {"prompt": "hi"})
    with pytest.raises(InferenceUpstreamError, match=r"^5006: AiError: Bad input: Error: required"):
        await remote.run("@cf/meta/m2m100-1.2b", {"text": "hi"})
