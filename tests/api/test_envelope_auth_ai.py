"""The API's envelope, auth and routing, and Workers AI over it (the official SDK as client)."""

from __future__ import annotations

from pathlib import Path

import cloudflare
import httpx
import pytest
from cloudflare import AsyncCloudflare

from cfemu import Emulator, VirtualClock
from cfemu.api import api_app

from .conftest import ACCOUNT, project, sdk

pytestmark = pytest.mark.anyio


def raw_client(emulator: Emulator, **options: object) -> httpx.AsyncClient:
    app = api_app(emulator, **options)  # type: ignore[arg-type]
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cfemu.local/client/v4"
    )


async def test_a_call_without_credentials_is_refused_with_cloudflares_envelope(
    emulator: Emulator,
) -> None:
    async with raw_client(emulator) as http:
        answer = await http.get(f"/accounts/{ACCOUNT}/d1/database")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "result": None,
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
    }


async def test_a_required_token_refuses_other_tokens(emulator: Emulator) -> None:
    right = sdk(emulator, api_token="right", token="right")
    assert (await right.d1.database.get("notes-id", account_id=ACCOUNT)).name == "notes-db"
    with pytest.raises(cloudflare.PermissionDeniedError):
        await sdk(emulator, api_token="wrong", token="right").d1.database.get(
            "notes-id", account_id=ACCOUNT
        )


async def test_an_unknown_route_is_7003_and_success_carries_result_info(
    emulator: Emulator,
) -> None:
    async with raw_client(emulator) as http:
        headers = {"Authorization": "Bearer t"}
        missing = await http.get(f"/accounts/{ACCOUNT}/nothing/here", headers=headers)
        listed = await http.get(f"/accounts/{ACCOUNT}/d1/database", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["errors"] == [{"code": 7003, "message": "No route for the URI"}]
    body = listed.json()
    assert body["success"] is True and body["errors"] == [] and body["messages"] == []
    assert body["result_info"] == {"page": 1, "per_page": 1000, "count": 1, "total_count": 1}


async def test_the_account_id_is_checked_when_one_is_set(emulator: Emulator) -> None:
    cf = sdk(emulator, account_id=ACCOUNT)
    assert (await cf.d1.database.get("notes-id", account_id=ACCOUNT)).name == "notes-db"
    with pytest.raises(cloudflare.PermissionDeniedError):
        await cf.d1.database.get("notes-id", account_id="f" * 32)


async def test_ai_run_answers_from_the_same_local_binding(
    emulator: Emulator, cf: AsyncCloudflare
) -> None:
    model = "@cf/meta/llama-3.1-8b-instruct"
    result = await cf.ai.run(model, account_id=ACCOUNT, prompt="Say hi")
    assert isinstance(result, dict) and isinstance(result["response"], str)
    assert result == dict(await emulator.env.AI.run(model, {"prompt": "Say hi"}))
    assert emulator.ai.stats().calls == 2


async def test_model_names_arrive_whole_encoded_or_not(emulator: Emulator) -> None:
    async with raw_client(emulator) as http:
        headers = {"Authorization": "Bearer t"}
        plain = await http.post(
            f"/accounts/{ACCOUNT}/ai/run/@cf/meta/llama-3.1-8b-instruct",
            json={"prompt": "x"},
            headers=headers,
        )
        encoded = await http.post(
            f"/accounts/{ACCOUNT}/ai/run/@cf%2Fmeta%2Fllama-3.1-8b-instruct",
            json={"prompt": "x"},
            headers=headers,
        )
    assert plain.status_code == encoded.status_code == 200
    assert plain.json()["result"] == encoded.json()["result"]


async def test_invalid_ai_inputs_are_a_400_with_the_models_error_code(
    cf: AsyncCloudflare,
) -> None:
    with pytest.raises(cloudflare.BadRequestError) as caught:
        await cf.ai.run(
            "@cf/meta/llama-3.1-8b-instruct", account_id=ACCOUNT, extra_body={}, text="?"
        )
    assert caught.value.errors[0].code == 5006


async def test_the_configs_account_id_is_the_only_one_accepted(tmp_path: Path) -> None:
    config = project(tmp_path)
    config.write_text(f'account_id = "{ACCOUNT}"\n' + config.read_text())
    async with Emulator.from_config(config, clock=VirtualClock()) as emulator:
        cf = sdk(emulator)
        assert (await cf.d1.database.get("notes-id", account_id=ACCOUNT)).name == "notes-db"
        with pytest.raises(cloudflare.PermissionDeniedError):
            await cf.d1.database.get("notes-id", account_id="b" * 32)
