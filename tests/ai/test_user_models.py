"""Models registered per name: sync/async callables and objects with ``run(inputs)``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cfemu.ai import AiBinding, AiSettings
from cfemu.clock import VirtualClock
from cfemu.errors import AiError, InferenceUpstreamError

pytestmark = pytest.mark.anyio

MODEL = "@cf/meta/llama-3.1-8b-instruct"


async def test_sync_function_returning_str_becomes_response() -> None:
    ai = AiBinding(VirtualClock())
    ai.register(MODEL, lambda inputs: inputs["prompt"].upper())
    out = await ai.run(MODEL, {"prompt": "shout"})
    assert out == {"response": "SHOUT"}
    assert out.response == "SHOUT"


async def test_async_function_returning_dict_is_returned_with_attribute_access() -> None:
    ai = AiBinding(VirtualClock())

    async def model(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"response": "ok", "usage": {"total_tokens": 3}}

    ai.register(MODEL, model)
    out = await ai.run(MODEL, {"messages": [{"role": "user", "content": "hi"}]})
    assert out.usage.total_tokens == 3


async def test_object_with_run_method_answers_and_other_models_use_the_built_in() -> None:
    class Echo:
        def __init__(self) -> None:
            self.seen: list[dict[str, Any]] = []

        async def run(self, inputs: dict[str, Any]) -> str:
            self.seen.append(inputs)
            return "echo: " + inputs["prompt"]

    echo = Echo()
    ai = AiBinding(VirtualClock())
    ai.register("@cf/test/echo", echo)
    assert (await ai.run("@cf/test/echo", {"prompt": "x"})).response == "echo: x"
    assert "cfemu local model" in (await ai.run(MODEL, {"prompt": "x"})).response
    assert ai.registered_models == ("@cf/test/echo",)
    assert ai.stats().calls_by_model == {"@cf/test/echo": 1, MODEL: 1}


async def test_user_model_gets_its_own_copy_of_the_inputs() -> None:
    ai = AiBinding(VirtualClock())

    def mutate(inputs: dict[str, Any]) -> str:
        inputs["messages"][0]["content"] = "changed"
        return "done"

    ai.register(MODEL, mutate)
    inputs = {"messages": [{"role": "user", "content": "original"}]}
    await ai.run(MODEL, inputs)
    assert inputs["messages"][0]["content"] == "original"


async def test_user_models_take_non_text_inputs_but_text_inputs_are_validated() -> None:
    ai = AiBinding(VirtualClock())
    ai.register("@cf/baai/bge-base-en-v1.5", lambda inputs: {"data": [[0.1] * len(inputs["text"])]})
    out = await ai.run("@cf/baai/bge-base-en-v1.5", {"text": ["a", "b"]})
    assert out.data == [[0.1, 0.1]]
    ai.register(MODEL, lambda inputs: "never")
    with pytest.raises(InferenceUpstreamError, match="role"):
        await ai.run(MODEL, {"messages": [{"role": "bot", "content": "x"}]})


async def test_user_model_errors_propagate_and_are_counted() -> None:
    ai = AiBinding(VirtualClock())

    def broken(inputs: dict[str, Any]) -> str:
        raise RuntimeError("model crashed")

    ai.register(MODEL, broken)
    with pytest.raises(RuntimeError, match="model crashed"):
        await ai.run(MODEL, {"prompt": "x"})
    assert ai.stats().failed == 1
    assert ai.stats().last_error == "RuntimeError: model crashed"


async def test_unusable_answers_and_registrations_are_rejected_clearly() -> None:
    ai = AiBinding(VirtualClock())
    ai.register(MODEL, lambda inputs: 42)
    with pytest.raises(AiError, match="answered with int; expected a dict"):
        await ai.run(MODEL, {"prompt": "x"})
    with pytest.raises(TypeError, match="needs a callable or an object with run"):
        ai.register(MODEL, "not a model")  # type: ignore[arg-type]
    ai.unregister(MODEL)
    assert "cfemu local model" in (await ai.run(MODEL, {"prompt": "x"})).response


async def test_registered_model_wins_over_remote_mode() -> None:
    def no_network(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request to {request.url}")

    ai = AiBinding(
        VirtualClock(),
        settings=AiSettings(mode="remote", account_id="acc", api_token="tok"),
        transport=httpx.MockTransport(no_network),
    )
    ai.register(MODEL, lambda inputs: "local override")
    assert (await ai.run(MODEL, {"prompt": "x"})).response == "local override"
    await ai.aclose()
