"""The Local Explorer's JSON API, in process: every route, its envelope and its errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cfemu import Emulator
from cfemu.explorer import EXPLORER_PREFIXES, explorer_app, with_explorer
from cfemu.explorer.openapi import ROUTES
from cfemu.queues.service import QueueService

pytestmark = pytest.mark.anyio

API = "/cdn-cgi/local/explorer/api"
#: A value per path parameter of the other kinds' routes, for the route-coverage test.
SAMPLE_PARAMS = {
    "table": "done",
    "namespace_id": "cache-id",
    "key_name": "k",
    "workflow_name": "chores",
    "id": "pipeline-Tally",
}


def result(response: httpx.Response) -> Any:
    """The ``result`` of a successful envelope (asserting it is one)."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["success"], body["errors"], body["messages"]) == (True, [], [])
    return body["result"]


def error(response: httpx.Response, status: int, code: int) -> str:
    """The message of an error envelope with ``status`` and ``code``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["success"], body["result"], body["messages"]) == (False, None, [])
    [err] = body["errors"]
    assert err["code"] == code
    return str(err["message"])


async def queue(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    found: dict[str, Any] = result(await client.get(f"{API}/queues/{name}"))
    return found


@pytest.mark.parametrize("prefix", EXPLORER_PREFIXES)
async def test_the_api_root_is_an_openapi_document_of_every_route(
    client: httpx.AsyncClient, prefix: str
) -> None:
    doc = (await client.get(f"{prefix}/api")).json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "Local Explorer API"
    assert doc["servers"] == [{"url": f"{prefix}/api"}]
    for method, path, _, _ in ROUTES:
        assert method.lower() in doc["paths"][path]
    # ...and each documented route answers (not a 404 or 405 from the router).
    for method, path, _, _ in ROUTES:
        concrete = path.replace("{database_id}", "tasks-id").replace("{queue}", "jobs")
        for name, value in SAMPLE_PARAMS.items():
            concrete = concrete.replace("{" + name + "}", value)
        response = await client.request(
            method, prefix + "/api" + concrete, json={"sql": "SELECT 1"}
        )
        # (A 404 of the route itself is fine: an absent key; the router's own is 7003.)
        assert response.status_code != 405, (method, path, response.text)
        if response.status_code == 404:
            assert response.json()["errors"][0]["code"] != 7003, (method, path)


#: Cloudflare's local explorer's routes (workers-sdk, miniflare's openapi.local.json) and
#: their operationIds, except R2 and local observability, which cfemu does not emulate.
CLOUDFLARE_ROUTES = {
    ("GET", "/storage/kv/namespaces"): "workers-kv-namespace-list-namespaces",
    ("GET", "/storage/kv/namespaces/{namespace_id}/keys"): (
        "workers-kv-namespace-list-a-namespace'-s-keys"
    ),
    ("GET", "/storage/kv/namespaces/{namespace_id}/values/{key_name}"): (
        "workers-kv-namespace-read-key-value-pair"
    ),
    ("PUT", "/storage/kv/namespaces/{namespace_id}/values/{key_name}"): (
        "workers-kv-namespace-write-key-value-pair-with-metadata"
    ),
    ("DELETE", "/storage/kv/namespaces/{namespace_id}/values/{key_name}"): (
        "workers-kv-namespace-delete-key-value-pair"
    ),
    ("POST", "/storage/kv/namespaces/{namespace_id}/bulk/get"): (
        "workers-kv-namespace-get-multiple-key-value-pairs"
    ),
    ("GET", "/d1/database"): "d1-list-databases",
    ("POST", "/d1/database/{database_id}/raw"): "d1-raw-database-query",
    ("GET", "/workers/durable_objects/namespaces"): "durable-objects-namespace-list-namespaces",
    ("GET", "/workers/durable_objects/namespaces/{id}/objects"): (
        "durable-objects-namespace-list-objects"
    ),
    ("POST", "/workers/durable_objects/namespaces/{namespace_id}/query"): (
        "durable-objects-namespace-query-sqlite"
    ),
    ("GET", "/local/workers"): "local-explorer-list-workers",
    ("GET", "/workflows"): "workflows-list-workflows",
    ("GET", "/workflows/{workflow_name}"): "workflows-get-workflow-details",
    ("DELETE", "/workflows/{workflow_name}"): "workflows-delete-workflow",
    ("GET", "/workflows/{workflow_name}/instances"): "workflows-list-instances",
    ("POST", "/workflows/{workflow_name}/instances"): "workflows-create-instance",
    ("POST", "/workflows/{workflow_name}/instances/batch/delete"): (
        "workflows-batch-delete-instances"
    ),
    ("GET", "/workflows/{workflow_name}/instances/{instance_id}"): (
        "workflows-get-instance-details"
    ),
    ("DELETE", "/workflows/{workflow_name}/instances/{instance_id}"): "workflows-delete-instance",
    ("PATCH", "/workflows/{workflow_name}/instances/{instance_id}/status"): (
        "workflows-change-instance-status"
    ),
    ("POST", "/workflows/{workflow_name}/instances/{instance_id}/events/{event_type}"): (
        "workflows-send-instance-event"
    ),
}


async def test_every_route_of_cloudflares_explorer_is_documented_as_it_has_it(
    client: httpx.AsyncClient,
) -> None:
    doc = (await client.get(API)).json()
    for (method, path), operation_id in CLOUDFLARE_ROUTES.items():
        operation = doc["paths"][path][method.lower()]
        assert operation["operationId"] == operation_id
    listing = doc["paths"]["/workers/durable_objects/namespaces/{id}/objects"]["get"]
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert (limit["in"], limit["schema"]) == (
        "query",
        {"type": "number", "default": 1000, "minimum": 10, "maximum": 10000},
    )
    instances = doc["paths"]["/workflows/{workflow_name}/instances"]["get"]["parameters"]
    assert [p["name"] for p in instances] == ["workflow_name", "page", "per_page", "status"]


@pytest.mark.parametrize("prefix", EXPLORER_PREFIXES)
async def test_the_page_is_one_self_contained_html_file(
    client: httpx.AsyncClient, prefix: str
) -> None:
    for path in (prefix, prefix + "/"):
        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        text = page.text
        assert "<script>" in text and "<style>" in text
        assert "src=" not in text.replace('href="data:,"', "")  # nothing loaded from elsewhere
        assert "http://" not in text and "https://" not in text
    assert (await client.post(prefix)).status_code == 405


async def test_d1_databases_are_listed_and_filtered_by_name(client: httpx.AsyncClient) -> None:
    listed = await client.get(f"{API}/d1/database")
    assert result(listed) == [{"uuid": "tasks-id", "name": "tasks-db", "version": "production"}]
    assert listed.json()["result_info"] == {"count": 1}
    assert [d["name"] for d in result(await client.get(f"{API}/d1/database?name=TASKS"))] == [
        "tasks-db"
    ]
    assert result(await client.get(f"{API}/d1/database?name=nothing")) == []


async def test_d1_raw_runs_sql_on_the_workers_database(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    raw = f"{API}/d1/database/tasks-id/raw"
    inserted = result(
        await client.post(raw, json={"sql": "INSERT INTO done (body) VALUES (?)", "params": ["x"]})
    )
    assert inserted[0]["meta"]["changes"] == 1 and inserted[0]["success"] is True
    row = await emulator.env.DB.prepare("SELECT body FROM done").first()
    assert row["body"] == "x"  # the Worker's database
    batch = result(
        await client.post(
            raw,
            json={"batch": [{"sql": "SELECT 1 AS one"}, {"sql": "SELECT body FROM done"}]},
        )
    )
    assert [r["results"] for r in batch] == [
        {"columns": ["one"], "rows": [[1]]},
        {"columns": ["body"], "rows": [["x"]]},
    ]
    # By name too, as the REST API finds databases.
    assert result(await client.post(f"{API}/d1/database/tasks-db/raw", json={"sql": "SELECT 2"}))


async def test_d1_raw_meta_has_the_fields_cloudflares_explorer_gives(
    client: httpx.AsyncClient,
) -> None:
    [answer] = result(
        await client.post(f"{API}/d1/database/tasks-id/raw", json={"sql": "SELECT 1 AS one"})
    )
    assert sorted(answer["meta"]) == [
        "changed_db",
        "changes",
        "duration",
        "last_row_id",
        "rows_read",
        "rows_written",
        "size_after",
        "timings",
    ]
    assert answer["results"] == {"columns": ["one"], "rows": [[1]]}


async def test_d1_errors_are_the_local_explorers(client: httpx.AsyncClient) -> None:
    bad = await client.post(f"{API}/d1/database/tasks-id/raw", json={"sql": "SELECT * FROM nope"})
    assert "no such table: nope" in error(bad, 500, 10001)
    missing = await client.post(f"{API}/d1/database/other/raw", json={"sql": "SELECT 1"})
    assert error(missing, 404, 7404) == "The database other could not be found"
    # A body of neither shape ({sql, params?: [string]} or {batch}) is zod's union error,
    # checked before the database is looked up.
    for body in ({"params": []}, {"sql": "SELECT ?", "params": [1]}, {"batch": [{}]}):
        for db in ("tasks-id", "other"):
            no_sql = await client.post(f"{API}/d1/database/{db}/raw", json=body)
            assert error(no_sql, 400, 10001) == "Invalid input"
    empty = await client.post(f"{API}/d1/database/tasks-id/raw", json={"batch": []})
    assert result(empty) == []
    bound = await client.post(
        f"{API}/d1/database/tasks-id/raw", json={"sql": "SELECT ? AS v", "params": ["7"]}
    )
    assert result(bound)[0]["results"] == {"columns": ["v"], "rows": [["7"]]}
    malformed = await client.post(
        f"{API}/d1/database/tasks-id/raw",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert error(malformed, 500, 10000) == "Malformed JSON in request body"
    untyped = await client.post(f"{API}/d1/database/tasks-id/raw", content=b'{"sql": "SELECT 1"}')
    assert error(untyped, 400, 10001) == "Invalid input"  # no JSON content type: read as {}


async def test_queues_list_gauges_counters_consumer_and_dead_letter_queue(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    for i in range(3):
        await emulator.env.JOBS.send({"task": i})
    listed = await client.get(f"{API}/queues")
    queues = {q["queue_name"]: q for q in result(listed)}
    assert set(queues) == {"jobs", "jobs-dlq"}
    assert listed.json()["result_info"] == {"count": 2}
    jobs = queues["jobs"]
    expected = emulator.queues["jobs"].stats().as_dict()
    assert jobs["stats"] == expected and expected["depth"] == 3 and expected["sent"] == 3
    assert jobs["metrics"]["backlog_count"] == 3
    assert jobs["metrics"]["backlog_bytes"] == emulator.queues["jobs"].metrics()["backlogBytes"] > 0
    assert jobs["metrics"]["oldest_message_age_ms"] == 0  # the virtual clock has not moved
    await emulator.advance(0.5)
    assert (await queue(client, "jobs"))["metrics"]["oldest_message_age_ms"] == 500
    [consumer] = jobs["consumers"]
    assert consumer["settings"]["batch_size"] == 10 and consumer["settings"]["max_retries"] == 0
    assert (jobs["dead_letter_queue"], jobs["dead_letter_queue_of"]) == ("jobs-dlq", [])
    dlq = queues["jobs-dlq"]
    assert (dlq["dead_letter_queue"], dlq["dead_letter_queue_of"]) == (None, ["jobs"])
    assert dlq["consumers"] == [] and dlq["stats"]["depth"] == 0
    by_id = await client.get(f"{API}/queues/{jobs['queue_id']}")
    assert result(by_id)["queue_name"] == "jobs"
    assert error(await client.get(f"{API}/queues/nope"), 404, 10104) == "Queue nope does not exist"


async def test_peeking_lists_messages_without_consuming_them(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    await emulator.env.JOBS.send({"task": 0})
    await emulator.env.JOBS.send("later", contentType="text", delaySeconds=60)
    await emulator.env.JOBS.send({"task": 1})
    peek = f"{API}/queues/jobs/messages"
    for _ in range(2):  # twice: the first peek took nothing
        listed = await client.get(peek)
        messages = result(listed)
        assert [(m["state"], m["body_preview"]) for m in messages] == [
            ("ready", '{"task":0}'),
            ("ready", '{"task":1}'),
            ("delayed", "later"),
        ]
        assert listed.json()["result_info"] == {
            "page": 1,
            "per_page": 100,
            "count": 3,
            "total_count": 3,
            "total_pages": 1,
        }
    ready, _, delayed = messages
    assert ready["attempts"] == 0 and ready["content_type"] == "json" and ready["size"] > 0
    assert ready["visible_at_ms"] is None
    assert delayed["visible_at_ms"] == ready["timestamp_ms"] + 60_000
    ids = [m.id for m in emulator.queues["jobs"].messages()]
    assert ids == [m["id"] for m in messages]
    assert [m["state"] for m in result(await client.get(peek + "?state=delayed"))] == ["delayed"]
    one = await client.get(peek + "?limit=1")
    assert one.json()["result_info"]["count"] == 1
    assert one.json()["result_info"]["total_count"] == 3
    assert "state" in error(await client.get(peek + "?state=gone"), 400, 10001)
    assert "limit" in error(await client.get(peek + "?limit=0"), 400, 10001)
    assert emulator.queues["jobs"].stats().delivered == 0


async def test_a_test_message_is_sent_and_delivered(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    sent = await client.post(
        f"{API}/queues/jobs/messages", json={"body": "hello", "content_type": "text"}
    )
    assert result(sent)["stats"]["sent"] == 1
    await emulator.drain()
    row = await emulator.env.DB.prepare("SELECT body FROM done").first()
    assert row["body"] == "hello"
    no_body = await client.post(f"{API}/queues/jobs/messages", json={})
    assert "body" in error(no_body, 400, 10001)
    v8 = await client.post(f"{API}/queues/jobs/messages", json={"body": 1, "content_type": "v8"})
    assert "content_type" in error(v8, 400, 10203)


async def test_pause_keeps_messages_and_resume_delivers_them(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    paused = result(await client.post(f"{API}/queues/jobs/pause"))
    assert paused["settings"]["delivery_paused"] is True
    admin = emulator.service(QueueService).admin
    assert admin is not None and admin.registry.find("jobs").paused is True  # persisted record
    await emulator.env.JOBS.send({"task": 1})
    await emulator.drain()
    assert emulator.queues["jobs"].stats().depth == 1  # kept, not delivered
    resumed = result(await client.post(f"{API}/queues/jobs/resume"))
    assert resumed["settings"]["delivery_paused"] is False
    await emulator.drain()
    assert emulator.queues["jobs"].stats().acked == 1


async def test_purge_deletes_waiting_messages(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    await client.post(f"{API}/queues/jobs/pause")
    for i in range(4):
        await emulator.env.JOBS.send({"task": i})
    purged = result(await client.post(f"{API}/queues/jobs/purge"))
    assert purged["deleted"] == 4 and purged["queue"]["stats"]["depth"] == 0
    assert len(emulator.queues["jobs"]) == 0


async def test_redrive_moves_dead_letters_back_and_they_are_delivered(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    db = emulator.env.DB
    await db.exec("INSERT INTO outage (why) VALUES ('down')")
    for i in range(3):
        await emulator.env.JOBS.send({"task": i})
    await emulator.drain()
    dead = result(await client.get(f"{API}/queues/jobs-dlq/messages"))
    assert len(dead) == 3 and (await queue(client, "jobs"))["stats"]["dead_lettered"] == 3
    await db.exec("DELETE FROM outage")

    chosen = await client.post(
        f"{API}/queues/jobs-dlq/redrive", json={"message_ids": [dead[1]["id"]]}
    )
    assert result(chosen) == {"moved": 1, "to": "jobs"}
    back = result(await client.get(f"{API}/queues/jobs/messages"))
    assert [(m["id"], m["attempts"]) for m in back] == [(dead[1]["id"], 0)]
    await emulator.drain()
    done = await db.prepare("SELECT body FROM done").all()
    assert [r["body"] for r in done.results] == ["{'task': 1}"]
    left = result(await client.get(f"{API}/queues/jobs-dlq/messages"))
    assert [m["id"] for m in left] == [dead[0]["id"], dead[2]["id"]]

    everything = await client.post(f"{API}/queues/jobs-dlq/redrive", json={})
    assert result(everything) == {"moved": 2, "to": "jobs"}
    await emulator.drain()
    assert (await queue(client, "jobs"))["stats"]["acked"] == 3
    assert len(emulator.queues["jobs-dlq"]) == 0


async def test_redrive_refuses_what_it_cannot_do(client: httpx.AsyncClient) -> None:
    not_a_dlq = await client.post(f"{API}/queues/jobs/redrive", json={})
    assert "no consumer's dead_letter_queue" in error(not_a_dlq, 400, 10001)
    unknown = await client.post(f"{API}/queues/jobs-dlq/redrive", json={"to": "elsewhere"})
    assert error(unknown, 400, 10001) == 'Queue "elsewhere" does not exist'
    itself = await client.post(f"{API}/queues/jobs-dlq/redrive", json={"to": "jobs-dlq"})
    assert "into itself" in error(itself, 400, 10001)
    bad_ids = await client.post(f"{API}/queues/jobs-dlq/redrive", json={"message_ids": [1]})
    assert "message_ids" in error(bad_ids, 400, 10001)


async def test_local_workers_lists_each_worker_with_its_bindings(
    client: httpx.AsyncClient,
) -> None:
    [worker] = result(await client.get(f"{API}/local/workers"))
    assert worker == {
        "isSelf": True,
        "name": "pipeline",
        "bindings": {
            "kv": [{"id": "cache-id", "bindingName": "CACHE"}],
            "d1": [{"id": "tasks-id", "bindingName": "DB"}],
            "r2": [],
            "do": [
                {
                    "id": "pipeline-Tally",
                    "bindingName": "TALLY",
                    "className": "Tally",
                    "scriptName": "pipeline",
                    "useSqlite": True,
                }
            ],
            "workflows": [
                {
                    "id": "chores",
                    "bindingName": "CHORES",
                    "className": "Chore",
                    "scriptName": "pipeline",
                }
            ],
        },
    }
    # Each id is the one the resource's own routes take.
    assert result(await client.get(f"{API}/workflows/chores"))["name"] == "chores"
    objects = await client.get(f"{API}/workers/durable_objects/namespaces/pipeline-Tally/objects")
    assert result(objects) == []


async def test_routes_methods_origins_and_cors(client: httpx.AsyncClient) -> None:
    assert error(await client.get(f"{API}/kv/nothing"), 404, 7003)
    assert error(await client.delete(f"{API}/queues"), 405, 10405)
    assert error(await client.get("/cdn-cgi/local/explorer/other"), 404, 10000)
    elsewhere = await client.get(f"{API}/queues", headers={"origin": "https://evil.example"})
    assert "may not use" in error(elsewhere, 403, 10000)
    local = await client.get(f"{API}/queues", headers={"origin": "http://localhost:3000"})
    assert local.headers["access-control-allow-origin"] == "http://localhost:3000"
    preflight = await client.options(f"{API}/queues", headers={"origin": "http://127.0.0.1:8787"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:8787"
    assert preflight.headers["access-control-allow-headers"] == (
        "Content-Type, cf-metadata-only, cf-r2-custom-metadata"
    )
    assert preflight.headers["access-control-allow-methods"] == (
        "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    )
    assert preflight.headers["access-control-max-age"] == "86400"
    anyone = await client.options(f"{API}/queues")  # no Origin: "*", as Cloudflare's
    assert anyone.headers["access-control-allow-origin"] == "*"
    plain = await client.get(f"{API}/queues")
    assert "access-control-allow-origin" not in plain.headers


async def test_with_explorer_sends_only_the_explorers_paths_to_it(emulator: Emulator) -> None:
    app = with_explorer(emulator.asgi(), explorer_app(emulator))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        assert (await http.get("/?n=2")).json() == {"sent": 2}  # the Worker
        assert (await http.get("/cdn-cgi/explorer/api/queues")).status_code == 200
        lookalike = await http.get("/cdn-cgi/explorerx")  # not the explorer: the Worker's
        assert lookalike.json() == {"sent": 1}
    assert emulator.queues["jobs"].stats().sent == 3
