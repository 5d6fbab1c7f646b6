"""``stream: true`` answers server-sent events, read in a Worker and passed into a Response;
``returnRawResponse`` and AI Gateway options are accepted as the binding accepts them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from cfemu import Emulator, RealClock
from cfemu.ai import AiBinding
from cfemu.ai.stream import AiStream
from cfemu.cli.dev import make_server
from cfemu.clock import VirtualClock
from cfemu.errors import AiError

pytestmark = pytest.mark.anyio

MODEL = "@cf/meta/llama-3.1-8b-instruct"
WORKER = """
from workers import Response, WorkerEntrypoint

MODEL = "@cf/meta/llama-3.1-8b-instruct"


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("/", 3)[-1]
        inputs = {"prompt": "Why do queues retry deliveries?", "stream": True}
        stream = await self.env.AI.run(MODEL, inputs)
        if path == "count":
            reader = stream.getReader()
            chunks = 0
            while True:
                part = await reader.read()
                if part.done:
                    break
                chunks += 1
            return Response.json({"chunks": chunks})
        return Response(stream, headers={"content-type": "text/event-stream"})
"""


def parse_sse(text: str) -> list[str]:
    assert text.endswith("\n\n")
    events = text[:-2].split("\n\n")
    assert all(event.startswith("data: ") for event in events)
    return [event[len("data: ") :] for event in events]


def check_events(events: list[str]) -> str:
    assert events[-1] == "[DONE]"
    payloads = [json.loads(event) for event in events[:-1]]
    assert all(isinstance(p["response"], str) for p in payloads)
    assert "usage" in payloads[-1]
    return "".join(p["response"] for p in payloads)


async def test_stream_gives_sse_chunks_that_spell_the_plain_answer() -> None:
    ai = AiBinding(VirtualClock())
    inputs = {"prompt": "Why do queues retry deliveries?"}
    plain = await ai.run(MODEL, inputs)
    stream = await ai.run(MODEL, {**inputs, "stream": True})
    assert isinstance(stream, AiStream) and stream.content_type == "text/event-stream"
    chunks = [bytes(chunk.to_py()) async for chunk in stream]
    assert len(chunks) > 3 and all(c.startswith(b"data: ") for c in chunks)
    assert check_events(parse_sse(b"".join(chunks).decode())) == plain.response


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "wrangler.toml").write_text(
        'name = "ai-stream"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
        'compatibility_flags = ["python_workers"]\n\n[ai]\nbinding = "AI"\n'
    )
    return tmp_path / "wrangler.toml"


async def test_a_worker_reads_the_stream_chunk_by_chunk_and_returns_it(project: Path) -> None:
    emulator = Emulator.from_config(project, clock=VirtualClock())
    async with emulator, emulator.client() as client:
        counted = (await client.get("/count")).json()["chunks"]
        response = await client.get("/")
    assert response.headers["content-type"] == "text/event-stream"
    events = parse_sse(response.text)
    assert len(events) == counted > 3
    assert check_events(events)


async def test_the_stream_reaches_a_client_over_cfemu_dev(project: Path, tmp_path: Path) -> None:
    emulator = Emulator.from_config(project, clock=RealClock(), persist_to=tmp_path / "state")
    async with emulator:
        server = make_server(emulator, ip="127.0.0.1", port=0)
        serving = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(10):
                while not server.started:
                    await asyncio.sleep(0)
            port = server.servers[0].sockets[0].getsockname()[1]
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base) as http, http.stream("GET", "/") as got:
                body = b"".join([chunk async for chunk in got.aiter_bytes()])
                content_type = got.headers["content-type"]
        finally:
            server.should_exit = True
            await serving
    assert content_type == "text/event-stream"
    assert check_events(parse_sse(body.decode()))


async def test_return_raw_response_gives_a_response_with_the_content_type() -> None:
    ai = AiBinding(VirtualClock())
    raw = await ai.run(MODEL, {"prompt": "hi"}, returnRawResponse=True)
    assert raw.status == 200 and raw.headers.get("content-type") == "application/json"
    body = json.loads(await raw.text())
    assert body == dict(await ai.run(MODEL, {"prompt": "hi"}))
    streamed = await ai.run(MODEL, {"prompt": "hi", "stream": True}, returnRawResponse=True)
    assert streamed.headers.get("content-type") == "text/event-stream"
    assert check_events(parse_sse(await streamed.text()))


async def test_gateway_options_are_accepted_and_checked() -> None:
    ai = AiBinding(VirtualClock())
    gateway = {"id": "my-gateway", "skipCache": True, "cacheTtl": 60, "metadata": {"user": 1}}
    out = await ai.run(MODEL, {"prompt": "hi"}, gateway=gateway, tags=["team:a"])
    assert out.response == (await ai.run(MODEL, {"prompt": "hi"})).response
    with pytest.raises(AiError, match=r"options\.gateway\.id is required"):
        await ai.run(MODEL, {"prompt": "hi"}, gateway={"skipCache": True})
    with pytest.raises(AiError, match=r"maxAttempts must be 1 to 5, got 9"):
        await ai.run(MODEL, {"prompt": "hi"}, gateway={"id": "g", "retries": {"maxAttempts": 9}})
    with pytest.raises(AiError, match=r"options\.tags"):
        await ai.run(MODEL, {"prompt": "hi"}, tags=["a b"])
