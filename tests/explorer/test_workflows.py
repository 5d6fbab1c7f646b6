"""The explorer's Workflows routes: workflows with counts, instances paged and filtered by
status, an instance's steps, and create / status / events through the binding."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cfemu import Emulator, VirtualClock
from cfemu.explorer import explorer_app

from .test_api import API, error, result

pytestmark = pytest.mark.anyio

WF = f"{API}/workflows"
CONFIG = """\
name = "shop"
main = "worker.py"
compatibility_date = "2026-03-01"
compatibility_flags = ["python_workers"]

[[workflows]]
name = "orders"
binding = "ORDERS"
class_name = "OrderFlow"
"""
WORKER = """\
from workers import WorkerEntrypoint, WorkflowEntrypoint
from workers.workflows import NonRetryableError

class OrderFlow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("reserve", config={"retries": {"limit": 1, "delay": "1 second"}})
        async def reserve(ctx):
            if event["payload"]["qty"] <= 0:
                raise NonRetryableError("nothing to reserve")
            if ctx["attempt"] == 1 and event["payload"].get("flaky"):
                raise ValueError("try again")
            return {"reserved": event["payload"]["qty"]}

        reserved = await reserve()
        await step.sleep("settle", "1 hour")
        approval = await step.wait_for_event("approval", "approved", timeout="1 day")
        return {"reserved": reserved["reserved"], "by": approval["payload"]["by"]}

class Default(WorkerEntrypoint):
    pass
"""


@pytest.fixture
async def wf_emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    """An emulator with one Workflow."""
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    async with Emulator.from_config(tmp_path / "wrangler.toml", clock=VirtualClock()) as emu:
        yield emu


@pytest.fixture
async def wf_client(wf_emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """The explorer of ``wf_emulator``, in process."""
    transport = httpx.ASGITransport(app=explorer_app(wf_emulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


async def test_workflows_are_listed_with_instance_counts(
    wf_client: httpx.AsyncClient, wf_emulator: Emulator
) -> None:
    listed = await wf_client.get(WF)
    assert result(listed) == [{"name": "orders", "class_name": "OrderFlow", "script_name": "shop"}]
    assert listed.json()["result_info"] == {"count": 1}
    await wf_emulator.env.ORDERS.create(id="a", params={"qty": 1})
    await wf_emulator.env.ORDERS.create(id="b", params={"qty": 0})
    await wf_emulator.advance(60)
    details = result(await wf_client.get(f"{WF}/orders"))
    assert details["instances"] == {
        "queued": 0,
        "running": 0,
        "paused": 0,
        "errored": 1,
        "terminated": 0,
        "complete": 0,
        "waitingForPause": 0,
        "waiting": 1,
    }
    assert error(await wf_client.get(f"{WF}/nope"), 404, 10501) == "Workflow 'nope' not found."


async def test_instances_page_newest_first_and_filter_by_status(
    wf_client: httpx.AsyncClient, wf_emulator: Emulator
) -> None:
    for i in range(5):
        await wf_emulator.env.ORDERS.create(id=f"i{i}", params={"qty": 0 if i % 2 else 1})
        await wf_emulator.advance(1)
    await wf_emulator.advance(60)
    first = await wf_client.get(f"{WF}/orders/instances?per_page=2")
    assert [(i["id"], i["status"]) for i in result(first)] == [("i4", "waiting"), ("i3", "errored")]
    info = first.json()["result_info"]
    assert (info["page"], info["per_page"], info["total_count"], info["total_pages"]) == (
        1,
        2,
        5,
        3,
    )
    assert info["status_counts"]["errored"] == 2 and info["status_counts"]["waiting"] == 3
    assert result(first)[0]["created_on"].endswith("Z")
    last = result(await wf_client.get(f"{WF}/orders/instances?per_page=2&page=3"))
    assert [i["id"] for i in last] == ["i0"]
    errored = await wf_client.get(f"{WF}/orders/instances?status=errored")
    assert [i["id"] for i in result(errored)] == ["i3", "i1"]
    assert errored.json()["result_info"]["total_count"] == 2
    assert "status" in error(await wf_client.get(f"{WF}/orders/instances?status=odd"), 400, 10001)
    assert "per_page" in error(
        await wf_client.get(f"{WF}/orders/instances?per_page=101"), 400, 10001
    )


async def test_an_instance_shows_its_steps_attempts_sleep_and_event(
    wf_client: httpx.AsyncClient, wf_emulator: Emulator
) -> None:
    order = await wf_emulator.env.ORDERS.create(id="o1", params={"qty": 2, "flaky": True})
    await wf_emulator.advance(30)  # the first attempt fails, the retry (after 1 s) succeeds
    seen = result(await wf_client.get(f"{WF}/orders/instances/o1"))
    assert (seen["status"], seen["params"], seen["output"]) == (
        "waiting",
        {"qty": 2, "flaky": True},
        None,
    )
    reserve, settle = seen["steps"]
    assert (reserve["name"], reserve["type"], reserve["success"]) == ("reserve", "step", True)
    assert reserve["output"] == {"reserved": 2}
    assert [a["success"] for a in reserve["attempts"]] == [False, True]
    assert reserve["attempts"][0]["error"] == {"name": "ValueError", "message": "try again"}
    assert (settle["type"], settle["finished"]) == ("sleep", False)
    assert seen["step_count"] == 2
    await wf_emulator.advance(3600)
    await order.sendEvent(type="approved", payload={"by": "ana"})
    await wf_emulator.drain()
    done = result(await wf_client.get(f"{WF}/orders/instances/o1"))
    assert done["status"] == "complete"
    assert done["output"] == {"reserved": 2, "by": "ana"}
    assert [s["type"] for s in done["steps"]] == ["step", "sleep", "waitForEvent"]
    assert done["steps"][2]["output"]["payload"] == {"by": "ana"}
    missing = await wf_client.get(f"{WF}/orders/instances/nope")
    assert error(missing, 404, 10501) == "Workflow instance 'nope' not found."


async def test_instances_are_created_paused_resumed_and_sent_events_through_the_binding(
    wf_client: httpx.AsyncClient, wf_emulator: Emulator
) -> None:
    created = await wf_client.post(
        f"{WF}/orders/instances", json={"id": "x1", "params": {"qty": 3}}
    )
    assert result(created) == {"id": "x1"}
    assert await (await wf_emulator.env.ORDERS.get("x1")).status() == {
        "status": "queued",
        "error": None,
        "output": None,
    }
    auto = result(await wf_client.post(f"{WF}/orders/instances"))
    assert len(auto["id"]) == 36  # a random UUID, as create() gives
    await wf_emulator.advance(60)
    status_url = f"{WF}/orders/instances/x1/status"
    assert result(await wf_client.patch(status_url, json={"action": "pause"})) == {"success": True}
    assert (await (await wf_emulator.env.ORDERS.get("x1")).status())["status"] == "paused"
    assert result(await wf_client.patch(status_url, json={"action": "resume"}))["success"]
    await wf_emulator.advance(3600)
    sent = await wf_client.post(f"{WF}/orders/instances/x1/events/approved", json={"by": "bo"})
    assert result(sent) == {"success": True}
    await wf_emulator.drain()
    x1 = await (await wf_emulator.env.ORDERS.get("x1")).status()
    assert x1 == {"status": "complete", "output": {"reserved": 3, "by": "bo"}, "error": None}

    bad = await wf_client.patch(status_url, json={"action": "explode"})
    assert error(bad, 400, 10001) == (
        'action: Invalid option: expected one of "pause"|"resume"|"restart"|"terminate"'
    )
    gone = await wf_client.patch(f"{WF}/orders/instances/nope/status", json={"action": "pause"})
    assert error(gone, 404, 10501) == "Workflow instance 'nope' not found."
    again = await wf_client.post(f"{WF}/orders/instances", json={"id": "x1"})
    assert error(again, 500, 10001)  # the binding's refusal of a duplicate id
    no_from = await wf_client.patch(status_url, json={"action": "restart", "from": {"name": ""}})
    assert error(no_from, 400, 10001) == (
        "'from.name' is required when restarting from a specific step."
    )


async def test_instances_are_deleted_one_by_one_in_batches_and_all_at_once(
    wf_client: httpx.AsyncClient, wf_emulator: Emulator
) -> None:
    for name in ("d1", "d2", "d3", "d4", "d5"):
        await wf_emulator.env.ORDERS.create(id=name, params={"qty": 1})
    await wf_emulator.advance(60)  # d1..d5 sleep in "settle"

    one = await wf_client.delete(f"{WF}/orders/instances/d1")
    assert result(one) == {"success": True}
    assert error(await wf_client.get(f"{WF}/orders/instances/d1"), 404, 10501)
    again = await wf_client.delete(f"{WF}/orders/instances/d1")
    assert error(again, 404, 10501) == "Workflow instance 'd1' not found."

    batch = await wf_client.post(
        f"{WF}/orders/instances/batch/delete", json={"instances": ["d2", "nope", "d3", "d2"]}
    )
    missing = {"id": "nope", "code": 10400, "message": "workflows.api.error.instance.not_found"}
    assert result(batch) == {
        "deleted": [{"id": "d2"}, {"id": "d3"}, {"id": "d2"}],
        "errors": [missing],
    }
    listed = result(await wf_client.get(f"{WF}/orders/instances"))
    assert sorted(i["id"] for i in listed) == ["d4", "d5"]

    everything = await wf_client.delete(f"{WF}/orders")
    assert result(everything) == {"status": "ok", "success": True}
    counts = result(await wf_client.get(f"{WF}/orders"))["instances"]
    assert sum(counts.values()) == 0
    # A deleted id may be used again, and the new instance runs from its first step.
    await wf_emulator.env.ORDERS.create(id="d4", params={"qty": 2})
    await wf_emulator.advance(60)
    d4 = result(await wf_client.get(f"{WF}/orders/instances/d4"))
    assert d4["params"] == {"qty": 2}
    assert d4["steps"][0]["output"] == {"reserved": 2}

    unknown = await wf_client.delete(f"{WF}/nope")
    assert error(unknown, 404, 10501) == "Workflow 'nope' not found."
    unknown = await wf_client.delete(f"{WF}/nope/instances/d4")
    assert error(unknown, 404, 10501) == "Workflow 'nope' not found."
    unknown = await wf_client.post(f"{WF}/nope/instances/batch/delete", json={"instances": ["a"]})
    assert error(unknown, 404, 10501) == "Workflow 'nope' not found."


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "instances: Invalid input: expected array, received undefined"),
        ({"instances": []}, "instances: Too small: expected array to have >=1 items"),
        (
            {"instances": [f"i{n}" for n in range(101)]},
            "instances: Too big: expected array to have <=100 items",
        ),
        (
            {"instances": ["ok", "bad!"]},
            "instances.1: Invalid string: must match pattern /^[a-zA-Z0-9, *\\/#_-]+$/",
        ),
        ({"instances": [7]}, "instances.0: Invalid input: expected string, received number"),
        (["a"], "Invalid input: expected object, received array"),
    ],
)
async def test_a_batch_delete_body_is_validated_before_anything_is_deleted(
    wf_client: httpx.AsyncClient, wf_emulator: Emulator, body: object, message: str
) -> None:
    await wf_emulator.env.ORDERS.create(id="ok", params={"qty": 1})
    # Validated before the Workflow is looked up, as Cloudflare's explorer does.
    for workflow in ("orders", "nope"):
        refused = await wf_client.post(f"{WF}/{workflow}/instances/batch/delete", json=body)
        assert error(refused, 400, 10001) == message
    assert (await (await wf_emulator.env.ORDERS.get("ok")).status())["status"] == "queued"


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ({}, ['action: Invalid option: expected one of "pause"|"resume"|"restart"|"terminate"']),
        (
            {"action": "restart", "from": {}},
            ["from.name: Invalid input: expected string, received undefined"],
        ),
        (
            {"action": "restart", "from": {"name": "reserve", "count": 0, "type": "step"}},
            [
                "from.count: Too small: expected number to be >=1",
                'from.type: Invalid option: expected one of "do"|"sleep"|"waitForEvent"',
            ],
        ),
        (
            {"action": "terminate", "rollback": "yes"},
            ["rollback: Invalid input: expected boolean, received string"],
        ),
    ],
)
async def test_a_status_change_is_checked_before_the_workflow_is_found(
    wf_client: httpx.AsyncClient, body: dict[str, object], messages: list[str]
) -> None:
    for workflow in ("orders", "nope"):
        refused = await wf_client.patch(f"{WF}/{workflow}/instances/x/status", json=body)
        assert refused.status_code == 400
        assert refused.json()["errors"] == [{"code": 10001, "message": m} for m in messages]


async def test_rollback_is_only_for_terminate_and_is_passed_to_it(
    wf_client: httpx.AsyncClient, wf_emulator: Emulator
) -> None:
    await wf_emulator.env.ORDERS.create(id="r1", params={"qty": 1})
    await wf_emulator.advance(60)
    url = f"{WF}/orders/instances/r1/status"
    paused = await wf_client.patch(url, json={"action": "pause", "rollback": True})
    assert error(paused, 400, 10001) == "'rollback' is only valid when terminating."
    done = await wf_client.patch(url, json={"action": "terminate", "rollback": True})
    assert result(done) == {"success": True}
    assert (await (await wf_emulator.env.ORDERS.get("r1")).status())["status"] == "terminated"


async def test_instance_listing_checks_its_query_before_the_workflow_is_found(
    wf_client: httpx.AsyncClient,
) -> None:
    for workflow in ("orders", "nope"):
        url = f"{WF}/{workflow}/instances"
        bad = await wf_client.get(f"{url}?status=done&per_page=500&page=0")
        assert bad.status_code == 400
        assert [e["message"] for e in bad.json()["errors"]] == [
            "page: Too small: expected number to be >=1",
            "per_page: Too big: expected number to be <=100",
            'status: Invalid option: expected one of "queued"|"running"|"paused"|"errored"|'
            '"terminated"|"complete"|"waitingForPause"|"waiting"',
        ]


async def test_each_step_kind_has_the_fields_cloudflares_explorer_gives_it(
    wf_client: httpx.AsyncClient, wf_emulator: Emulator
) -> None:
    await wf_emulator.env.ORDERS.create(id="s1", params={"qty": 2})
    await wf_emulator.advance(3600 + 60)  # past the sleep, into the wait
    steps = result(await wf_client.get(f"{WF}/orders/instances/s1"))["steps"]
    reserve, settle, approval = steps
    assert set(reserve) >= {"name", "start", "end", "success", "type", "config", "attempts"}
    assert (reserve["type"], reserve["output"], reserve["config"]) == (
        "step",
        {"reserved": 2},
        None,
    )
    assert (settle["type"], settle["finished"], settle["error"]) == ("sleep", True, None)
    assert (approval["type"], approval["finished"]) == ("waitForEvent", False)
    assert (approval["error"], approval["output"]) == (None, None)
