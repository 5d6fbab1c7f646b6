"""The REST mode, against httpx.MockTransport (never the network)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cfemu.ai import AiBinding, AiSettings
from cfemu.clock import VirtualClock
from cfemu.errors import AiError, InferenceUpstreamError

pytestmark = pytest.mark.anyio

MODEL = "@cf/meta/llama-3.1-8b-instruct"
URL = f"https://api.cloudflare.com/client/v4/accounts/acc-1/ai/run/{MODEL}"


def remote(handler: Any, **settings: Any) -> AiBinding:
    base = {"mode": "remote", "account_id": "acc-1", "api_token": "tok-1"}
    return AiBinding(
        VirtualClock(),
        settings=AiSettings(**{**base, **settings}),
        transport=httpx.MockTransport(handler),
        environ={},
    )


async def test_posts_inputs_with_bearer_token_and_returns_the_result() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"success": True, "result": {"response": "Paris"}, "errors": []}
        )

    ai = remote(handler)
    out = await ai.run(MODEL, {"prompt": "Capital of France?"}, extraHeaders={"x-test": "1"})
    assert out.response == "Paris"
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["authorization"] == "Bearer tok-1"
    assert request.headers["x-test"] == "1"
    assert json.loads(request.content) == {"prompt": "Capital of France?"}
    assert ai.stats().succeeded == 1
    await ai.aclose()


async def test_cloudflare_error_body_becomes_code_colon_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"success": False, "errors": [{"code": 5007, "message": "No such model"}]}
        return httpx.Response(400, json=body)

    ai = remote(handler)
    with pytest.raises(InferenceUpstreamError, match=r"^5007: No such model$"):
        await ai.run(MODEL, {"prompt": "x"})


async def test_non_json_failure_names_the_status_and_model() -> None:
    ai = remote(lambda request: httpx.Response(502, text="Bad gateway"))
    with pytest.raises(InferenceUpstreamError, match=r"^502: Bad gateway \(.*llama"):
        await ai.run(MODEL, {"prompt": "x"})


async def test_timeout_becomes_workers_ai_timeout_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    ai = remote(handler, timeout_seconds=1.5)
    with pytest.raises(InferenceUpstreamError, match=r"^3007: Request timeout .*within 1.5s"):
        await ai.run(MODEL, {"prompt": "x"})
    assert ai.stats().failed == 1


async def test_connection_failure_is_an_ai_error_naming_the_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("name resolution failed", request=request)

    ai = remote(handler)
    with pytest.raises(AiError, match="could not reach Cloudflare Workers AI at https://") as info:
        await ai.run(MODEL, {"prompt": "x"})
    assert not isinstance(info.value, InferenceUpstreamError)


async def test_inputs_are_checked_before_any_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    ai = remote(handler)
    with pytest.raises(InferenceUpstreamError, match="5006"):
        await ai.run(MODEL, {"prompt": "x", "messages": []})


async def test_credentials_come_from_the_environment_when_not_set() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True, "result": {"response": "hi"}})

    ai = AiBinding(
        VirtualClock(),
        settings=AiSettings(mode="remote"),
        transport=httpx.MockTransport(handler),
        environ={"CLOUDFLARE_ACCOUNT_ID": "env-acc", "CLOUDFLARE_API_TOKEN": "env-tok"},
    )
    await ai.run(MODEL, {"prompt": "x"})
    assert "/accounts/env-acc/ai/run/" in str(seen[0].url)
    assert seen[0].headers["authorization"] == "Bearer env-tok"


def test_remote_mode_without_credentials_says_what_is_missing() -> None:
    with pytest.raises(AiError, match=r"account_id \(or CLOUDFLARE_ACCOUNT_ID\) and api_token"):
        AiBinding(VirtualClock(), settings=AiSettings(mode="remote"), environ={})
    with pytest.raises(AiError, match="api_token") as info:
        AiBinding(VirtualClock(), settings=AiSettings(mode="remote", account_id="a"), environ={})
    assert "account_id" not in str(info.value)


@pytest.mark.parametrize("args", [(MODEL,), (MODEL, None)])
async def test_missing_inputs_are_a_5006_error_before_any_request(args: tuple[Any, ...]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    ai = remote(handler)
    with pytest.raises(InferenceUpstreamError, match=r"^5006: inputs must be an object"):
        await ai.run(*args)
    assert ai.stats().failed == 1
