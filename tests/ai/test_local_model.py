"""The built-in stand-in model: Cloudflare's shapes, determinism, validation, latency, failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu._faults import FaultRule, Faults
from cfemu._js import JsDict
from cfemu.ai import LOCAL_MODEL_MARKER, AiBinding, AiSettings
from cfemu.clock import VirtualClock
from cfemu.errors import InferenceUpstreamError

pytestmark = pytest.mark.anyio

MODEL = "@cf/meta/llama-3.1-8b-instruct"


def make(**kwargs: Any) -> tuple[AiBinding, VirtualClock]:
    clock = VirtualClock()
    return AiBinding(clock, settings=AiSettings(**kwargs)), clock


async def test_prompt_answers_response_and_usage_as_js_dict() -> None:
    ai, _ = make()
    out = await ai.run(MODEL, {"prompt": "Why do message queues retry deliveries?"})
    assert isinstance(out, JsDict)
    assert isinstance(out.response, str) and out.response == out["response"]
    assert LOCAL_MODEL_MARKER in out.response
    assert "queues" in out.response  # built from the question's own words
    usage = out.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


async def test_messages_answer_the_last_user_message() -> None:
    ai, _ = make()
    out = await ai.run(
        MODEL,
        {
            "messages": [
                {"role": "system", "content": "You answer briefly."},
                {"role": "user", "content": "Describe photosynthesis chlorophyll sunlight"},
            ]
        },
    )
    assert "photosynthesis" in out.response
    assert "briefly" not in out.response


async def test_same_inputs_and_seed_give_the_same_answer_and_others_differ() -> None:
    a, _ = make(seed=7)
    b, _ = make(seed=7)
    c, _ = make(seed=8)
    inputs = {"prompt": "Summarise the history of the printing press"}
    first = (await a.run(MODEL, inputs)).response
    assert first == (await b.run(MODEL, inputs)).response
    assert first == (await a.run(MODEL, inputs)).response
    assert first != (await c.run(MODEL, inputs)).response
    other = (await a.run(MODEL, {"prompt": "Summarise the history of the steam engine"})).response
    assert other != first
    assert first != (await a.run("@cf/meta/llama-3.2-3b-instruct", inputs)).response


async def test_max_tokens_caps_the_answer_length_in_words() -> None:
    ai, _ = make()
    out = await ai.run(MODEL, {"prompt": "Explain the water cycle in detail", "max_tokens": 4})
    assert len(out.response.split()) == 4


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({}, "must have a 'prompt', a 'messages' or an 'input' field"),
        ({"text": "hi"}, "keys given: 'text'"),
        ({"prompt": "a", "messages": []}, "not ['prompt', 'messages']"),
        ({"input": "a", "prompt": "b"}, "not ['prompt', 'input']"),
        ({"input": ""}, "'input' must not be empty"),
        ({"input": 5}, "'input' must be a list, got int"),
        ({"input": [{"role": "user", "content": 1}]}, "'input[0].content' must be a string"),
        ({"input": [{"content": "no role"}]}, "'input[0]' must have a 'role' or a 'type'"),
        ({"input": "hi", "instructions": ["x"]}, "'instructions' must be a string, got list"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "content[0].text'"),
        ({"prompt": 3}, "'prompt' must be a string, got int"),
        ({"prompt": ""}, "'prompt' must not be empty"),
        ({"messages": "hi"}, "'messages' must be a list"),
        ({"messages": []}, "at least one message"),
        ({"messages": ["hi"]}, "'messages[0]' must be an object"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "'messages[0].role' must be one of"),
        ({"messages": [{"role": "user"}]}, "'messages[0].content' must be a string or a non-e"),
        ("just a string", "inputs must be an object"),
    ],
)
async def test_invalid_inputs_raise_inference_upstream_error_naming_the_field(
    inputs: Any, fragment: str
) -> None:
    ai, _ = make()
    # Responses-style input is gpt-oss's form; llama's schema has only prompt and messages
    model = "@cf/openai/gpt-oss-120b" if isinstance(inputs, dict) and "input" in inputs else MODEL
    with pytest.raises(InferenceUpstreamError) as info:
        await ai.run(model, inputs)
    assert str(info.value).startswith("5006: ")
    assert fragment in str(info.value)
    assert ai.stats().failed == 1


@pytest.mark.parametrize("model", ["", "   ", None, 42])
async def test_invalid_model_name_is_rejected(model: Any) -> None:
    ai, _ = make()
    with pytest.raises(InferenceUpstreamError, match=r"^3042: The model name is invalid"):
        await ai.run(model, {"prompt": "hi"})


async def test_latency_waits_on_the_virtual_clock_and_is_recorded() -> None:
    ai, clock = make(latency_seconds=2.5)
    task = asyncio.create_task(ai.run(MODEL, {"prompt": "slow question"}))
    for _ in range(3):
        await asyncio.sleep(0)
    assert not task.done()
    assert clock.sleepers == 1
    assert ai.stats().in_flight == 1
    clock.advance(2.4)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(0.1)
    out = await task
    assert "slow" in out.response
    stats = ai.stats()
    assert stats.recent_latencies == (2.5,)
    assert stats.last_latency_seconds == 2.5
    assert stats.in_flight == 0


async def test_fail_rate_one_always_fails_with_a_capacity_error() -> None:
    ai, _ = make(fail_rate=1.0)
    for _ in range(3):
        with pytest.raises(InferenceUpstreamError, match=r"^3040: No more data centers"):
            await ai.run(MODEL, {"prompt": "q"})
    stats = ai.stats()
    assert (stats.calls, stats.succeeded, stats.failed) == (3, 0, 3)
    assert stats.failures_by_model == {MODEL: 3}
    assert stats.last_error is not None and "3040" in stats.last_error


async def outcomes(ai: AiBinding, n: int) -> list[bool]:
    results = []
    for i in range(n):
        try:
            await ai.run(MODEL, {"prompt": f"question {i}"})
        except InferenceUpstreamError:
            results.append(False)
        else:
            results.append(True)
    return results


async def test_fail_rate_is_seeded_and_roughly_honoured() -> None:
    first = await outcomes(make(fail_rate=0.3, seed=1)[0], 400)
    again = await outcomes(make(fail_rate=0.3, seed=1)[0], 400)
    other = await outcomes(make(fail_rate=0.3, seed=2)[0], 400)
    assert first == again
    assert first != other
    assert 80 <= first.count(False) <= 160


async def test_configure_changes_settings_while_running() -> None:
    ai, _ = make()
    await ai.run(MODEL, {"prompt": "fine"})
    assert ai.configure(fail_rate=1.0).fail_rate == 1.0
    with pytest.raises(InferenceUpstreamError):
        await ai.run(MODEL, {"prompt": "now fails"})
    ai.configure(fail_rate=0.0)
    await ai.run(MODEL, {"prompt": "fine again"})
    with pytest.raises(ValueError, match="fail_rate"):
        ai.configure(fail_rate=2)


async def test_faults_fire_before_inference_for_the_targeted_model_only() -> None:
    faults = Faults()
    faults.add(
        FaultRule(
            point="ai.run",
            target=MODEL,
            make_error=lambda: InferenceUpstreamError("3007: Request timeout"),
            times=1,
        )
    )
    clock = VirtualClock()
    ai = AiBinding(clock, faults, AiSettings(latency_seconds=5))
    with pytest.raises(InferenceUpstreamError, match="3007"):
        await ai.run(MODEL, {"prompt": "x"})
    assert clock.pending_timers == 0  # failed before the latency wait started
    task = asyncio.create_task(ai.run("@cf/meta/llama-3.2-3b-instruct", {"prompt": "x"}))
    await asyncio.sleep(0)
    clock.advance(5)
    await task
    assert faults.counts[("ai.run", MODEL)] == 1


def test_settings_reject_out_of_range_values_and_hide_the_token() -> None:
    with pytest.raises(ValueError, match="latency_seconds"):
        AiSettings(latency_seconds=-1)
    with pytest.raises(ValueError, match="mode"):
        AiSettings(mode="cloud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="extra"):
        AiSettings(sed=1)  # type: ignore[call-arg]
    assert "s3cret" not in repr(AiSettings(api_token="s3cret"))


text = st.text(min_size=1, max_size=200)
roles = st.sampled_from(["system", "user", "assistant", "tool"])


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        text.map(lambda p: {"prompt": p}),
        st.lists(
            st.fixed_dictionaries({"role": roles, "content": st.text(max_size=80)}),
            min_size=1,
            max_size=5,
        ).map(lambda m: {"messages": m}),
    ),
    st.integers(min_value=0, max_value=3),
)
def test_any_valid_input_gets_a_deterministic_well_formed_answer(
    inputs: dict[str, Any], seed: int
) -> None:
    async def go() -> tuple[Any, Any]:
        a = AiBinding(VirtualClock(), settings=AiSettings(seed=seed))
        b = AiBinding(VirtualClock(), settings=AiSettings(seed=seed))
        return await a.run(MODEL, inputs), await b.run(MODEL, inputs)

    one, two = asyncio.run(go())
    assert one == two
    assert isinstance(one["response"], str) and one["response"]
    usage = one["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["prompt", "messages", "role", "content", "x"]), json_values, max_size=3
    )
)
def test_arbitrary_inputs_either_answer_or_raise_a_5006_error(inputs: dict[str, Any]) -> None:
    async def go() -> Any:
        return await AiBinding(VirtualClock()).run(MODEL, inputs)

    try:
        out = asyncio.run(go())
    except InferenceUpstreamError as exc:
        assert str(exc).startswith("5006: ")
    else:
        assert isinstance(out["response"], str)


RESPONSES_MODEL = "@cf/openai/gpt-oss-120b"


@pytest.mark.parametrize(
    "inputs",
    [
        {"input": "What is a dead-letter queue?"},
        {"instructions": "Answer briefly.", "input": "What is a dead-letter queue?"},
        {
            "input": [
                {"role": "developer", "content": "Answer briefly."},
                {"role": "user", "content": [{"type": "input_text", "text": "What is a DLQ?"}]},
            ],
            "reasoning": {"effort": "low"},
        },
    ],
)
async def test_responses_style_input_gets_a_responses_object(inputs: dict[str, Any]) -> None:
    ai, clock = make()
    out = await ai.run(RESPONSES_MODEL, inputs)
    assert (out.object, out.status, out.model) == ("response", "completed", RESPONSES_MODEL)
    assert out.created_at == int(clock.now()) and out.id.startswith("resp_")
    message = out.output[0]
    assert (message.type, message.role) == ("message", "assistant")
    assert message.content[0].type == "output_text"
    assert out.output_text == message.content[0].text and LOCAL_MODEL_MARKER in out.output_text
    usage = out.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens > 0
    assert out == await ai.run(RESPONSES_MODEL, inputs)  # deterministic


async def test_instructions_and_content_parts_reach_the_local_model() -> None:
    ai, _ = make()
    plain = await ai.run(MODEL, {"messages": [{"role": "user", "content": "Why retry?"}]})
    parts = await ai.run(
        MODEL,
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Why retry?"}]}]},
    )
    assert parts.response == plain.response  # the same question, as text parts
    told = await ai.run(RESPONSES_MODEL, {"instructions": "Be terse.", "input": "Why retry?"})
    bare = await ai.run(RESPONSES_MODEL, {"input": "Why retry?"})
    assert told.output_text != bare.output_text  # instructions are part of the context


@pytest.mark.parametrize(
    "inputs",
    [
        {"prompt": "hi", "stop": ("a", "b")},
        {"messages": [{"role": "user", "content": "hi"}], "image": bytearray(b"x")},
    ],
)
async def test_tuples_and_bytearrays_are_refused_as_the_python_sdk_refuses_them(
    inputs: dict[str, Any],
) -> None:
    ai, _ = make()
    with pytest.raises(TypeError, match=r"^<class '(tuple|bytearray)'> cannot be sent over RPC\.$"):
        await ai.run(MODEL, inputs)
    with pytest.raises(TypeError, match="cannot be sent over RPC"):
        await ai.run(MODEL, {"prompt": "hi"}, gateway={"id": ("g",)})
    assert ai.stats().calls == 0
