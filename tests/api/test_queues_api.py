"""Queues over the Cloudflare API and HTTP pull consumers, driven by the official SDK."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import cloudflare
import pytest
from cloudflare import AsyncCloudflare

from cfemu import Emulator, VirtualClock

from .conftest import ACCOUNT, sdk

pytestmark = pytest.mark.anyio

WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        await self.env.TASKS.send({"task": request.url.rsplit("/", 1)[-1]})
        return Response("queued", status=202)

    async def queue(self, batch, env=None, ctx=None):
        for msg in batch.messages:
            await self.env.DB.prepare("INSERT INTO seen VALUES (?)").bind(
                str(msg.body)
            ).run()
"""


def pipeline(tmp_path: Path) -> Path:
    """A Worker producing to ``tasks`` and consuming ``inbox`` (into D1's ``seen``)."""
    (tmp_path / "worker.py").write_text(WORKER)
    config = tmp_path / "wrangler.toml"
    config.write_text(
        'name = "pipeline"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
        '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "db"\n'
        '[[queues.producers]]\nbinding = "TASKS"\nqueue = "tasks"\n'
        '[[queues.consumers]]\nqueue = "inbox"\nmax_batch_timeout = 1\nmax_retries = 2\n'
    )
    return config


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    async with Emulator.from_config(pipeline(tmp_path), clock=VirtualClock()) as emu:
        await emu.env.DB.exec("CREATE TABLE seen (body TEXT)")
        yield emu


async def queue_id(cf: AsyncCloudflare, name: str) -> str:
    [queue] = [q async for q in cf.queues.list(account_id=ACCOUNT) if q.queue_name == name]
    assert queue.queue_id is not None
    return queue.queue_id


async def test_a_message_pushed_over_http_reaches_the_worker_consumer(
    emulator: Emulator, cf: AsyncCloudflare
) -> None:
    inbox = await queue_id(cf, "inbox")
    await cf.queues.messages.push(inbox, account_id=ACCOUNT, body={"n": 1}, content_type="json")
    await cf.queues.messages.bulk_push(
        inbox,
        account_id=ACCOUNT,
        messages=[{"body": "plain", "content_type": "text"}, {"body": [2, 3]}],
    )
    await emulator.drain()
    rows = await emulator.env.DB.prepare("SELECT body FROM seen").all()
    assert sorted(r.body for r in rows.results) == ["[2, 3]", "plain", "{'n': 1}"]
    assert emulator.queues["inbox"].stats().acked == 3


async def test_a_pull_consumer_leases_what_a_worker_sent_and_acks_it(
    emulator: Emulator, cf: AsyncCloudflare
) -> None:
    tasks = await queue_id(cf, "tasks")
    consumer = await cf.queues.consumers.create(
        tasks,
        account_id=ACCOUNT,
        type="http_pull",
        settings={"batch_size": 10, "visibility_timeout_ms": 5000},
    )
    assert consumer is not None and consumer.type == "http_pull"  # type: ignore[union-attr]
    async with emulator.client() as client:
        for n in ("a", "b"):
            assert (await client.post(f"/tasks/{n}")).status_code == 202
    pulled = await cf.queues.messages.pull(tasks, account_id=ACCOUNT)
    assert pulled is not None and pulled.messages is not None
    bodies = [json.loads(base64.b64decode(m.body or "")) for m in pulled.messages]
    assert bodies == [{"task": "a"}, {"task": "b"}]
    assert pulled.messages[0].metadata == {
        "CF-sourceMessageSource": "api",
        "CF-Content-Type": "json",
    }
    assert pulled.message_backlog_count == 2
    result = await cf.queues.messages.ack(
        tasks, account_id=ACCOUNT, acks=[{"lease_id": m.lease_id} for m in pulled.messages]
    )
    assert result is not None and (result.ack_count, result.retry_count) == (2, 0)
    assert len(emulator.queues["tasks"]) == 0


async def test_retries_then_the_dead_letter_queue_over_http(
    emulator: Emulator, cf: AsyncCloudflare
) -> None:
    created = await cf.queues.create(account_id=ACCOUNT, queue_name="jobs")
    assert created is not None and created.queue_id is not None
    jobs = created.queue_id
    await cf.queues.consumers.create(
        jobs,
        account_id=ACCOUNT,
        type="http_pull",
        dead_letter_queue="jobs-dlq",
        settings={"max_retries": 1},
    )
    await cf.queues.messages.push(jobs, account_id=ACCOUNT, body="t", content_type="text")
    first = await cf.queues.messages.pull(jobs, account_id=ACCOUNT)
    assert first is not None and first.messages is not None
    [msg] = first.messages
    assert (msg.body, msg.attempts) == ("t", 1)
    await cf.queues.messages.ack(
        jobs, account_id=ACCOUNT, retries=[{"lease_id": msg.lease_id, "delay_seconds": 10}]
    )
    early = await cf.queues.messages.pull(jobs, account_id=ACCOUNT)
    assert early is not None and early.messages == []
    await emulator.advance(10)
    again = await cf.queues.messages.pull(jobs, account_id=ACCOUNT, visibility_timeout_ms=1000)
    assert again is not None and again.messages is not None
    assert [m.attempts for m in again.messages] == [2]
    await emulator.advance(1)  # the lease expires on its last attempt: dead-lettered
    assert len(emulator.queues["jobs-dlq"]) == 1
    dlq = await queue_id(cf, "jobs-dlq")
    assert dlq  # the dead-letter queue exists in the API too


async def test_a_paused_queue_answers_pulls_with_409_and_resumes(
    emulator: Emulator, cf: AsyncCloudflare
) -> None:
    tasks = await queue_id(cf, "tasks")
    await cf.queues.consumers.create(tasks, account_id=ACCOUNT, type="http_pull")
    paused = await cf.queues.edit(
        tasks, account_id=ACCOUNT, queue_name="tasks", settings={"delivery_paused": True}
    )
    assert paused is not None and paused.settings is not None
    assert paused.settings.delivery_paused is True
    await cf.queues.messages.push(tasks, account_id=ACCOUNT, body={"x": 1})
    with pytest.raises(cloudflare.ConflictError) as caught:
        await cf.queues.messages.pull(tasks, account_id=ACCOUNT)
    assert caught.value.errors[0].message == "queue_delivery_paused"
    assert caught.value.response.headers["x-should-retry"] == "false"
    await cf.queues.edit(
        tasks, account_id=ACCOUNT, queue_name="tasks", settings={"delivery_paused": False}
    )
    resumed = await cf.queues.messages.pull(tasks, account_id=ACCOUNT)
    assert resumed is not None and resumed.messages is not None
    assert len(resumed.messages) == 1


async def test_queues_are_listed_created_and_deleted_but_config_queues_stay(
    cf: AsyncCloudflare,
) -> None:
    names = sorted([q.queue_name or "" async for q in cf.queues.list(account_id=ACCOUNT)])
    assert names == ["inbox", "tasks"]
    created = await cf.queues.create(account_id=ACCOUNT, queue_name="scratch")
    assert created is not None and created.queue_id is not None
    assert len(created.queue_id) == 32
    fetched = await cf.queues.get("scratch", account_id=ACCOUNT)
    assert fetched is not None and fetched.queue_id == created.queue_id
    with pytest.raises(cloudflare.ConflictError):
        await cf.queues.create(account_id=ACCOUNT, queue_name="scratch")
    await cf.queues.delete(created.queue_id, account_id=ACCOUNT)
    with pytest.raises(cloudflare.NotFoundError) as missing:
        await cf.queues.get(created.queue_id, account_id=ACCOUNT)
    assert missing.value.errors[0].code == 10104
    with pytest.raises(cloudflare.BadRequestError, match="declared by a Worker config"):
        await cf.queues.delete(await queue_id(cf, "inbox"), account_id=ACCOUNT)


async def test_consumers_list_the_configs_worker_consumer_in_the_apis_shape(
    cf: AsyncCloudflare,
) -> None:
    inbox = await queue_id(cf, "inbox")
    consumers = [c async for c in cf.queues.consumers.list(inbox, account_id=ACCOUNT)]
    [worker] = consumers
    assert (worker.type, worker.script_name) == ("worker", "pipeline")  # type: ignore[union-attr]
    settings = worker.settings  # type: ignore[union-attr]
    assert settings is not None
    assert (settings.batch_size, settings.max_retries, settings.max_wait_time_ms) == (10, 2, 1000)
    with pytest.raises(cloudflare.BadRequestError):
        await cf.queues.consumers.create(inbox, account_id=ACCOUNT, type="http_pull")


async def test_purge_deletes_the_backlog_and_reports_its_status(
    emulator: Emulator, cf: AsyncCloudflare
) -> None:
    tasks = await queue_id(cf, "tasks")
    for n in range(3):
        await cf.queues.messages.push(tasks, account_id=ACCOUNT, body={"n": n})
    metrics = await cf.queues.get_metrics(tasks, account_id=ACCOUNT)
    assert metrics is not None and metrics.backlog_count == 3
    await cf.queues.purge.start(tasks, account_id=ACCOUNT, delete_messages_permanently=True)
    status = await cf.queues.purge.status(tasks, account_id=ACCOUNT)
    assert status is not None and status.started_at is not None
    assert len(emulator.queues["tasks"]) == 0


async def test_pull_consumers_and_pauses_survive_a_restart(tmp_path: Path) -> None:
    config, state = pipeline(tmp_path), tmp_path / "state"
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        cf = sdk(emu)
        tasks = await queue_id(cf, "tasks")
        await cf.queues.consumers.create(
            tasks, account_id=ACCOUNT, type="http_pull", settings={"max_retries": 5}
        )
        await cf.queues.messages.push(tasks, account_id=ACCOUNT, body="kept", content_type="text")
        leased = await cf.queues.messages.pull(tasks, account_id=ACCOUNT)
        assert leased is not None and leased.messages is not None
        await cf.queues.create(account_id=ACCOUNT, queue_name="made-over-http")
        await cf.queues.edit(
            "made-over-http", account_id=ACCOUNT, settings={"delivery_paused": True}
        )
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        cf = sdk(emu)
        again = await cf.queues.messages.pull(await queue_id(cf, "tasks"), account_id=ACCOUNT)
        assert again is not None and again.messages is not None
        # the lease held when the first process stopped counts as a failed attempt
        assert [(m.body, m.attempts) for m in again.messages] == [("kept", 2)]
        made = await cf.queues.get("made-over-http", account_id=ACCOUNT)
        assert made is not None and made.settings is not None
        assert made.settings.delivery_paused is True


async def test_a_pull_consumer_is_fetched_and_deleted_and_a_queue_updated(
    emulator: Emulator, cf: AsyncCloudflare
) -> None:
    tasks = await queue_id(cf, "tasks")
    created = await cf.queues.consumers.create(
        tasks, account_id=ACCOUNT, type="http_pull", settings={"visibility_timeout_ms": 2000}
    )
    assert created is not None and created.consumer_id is not None  # type: ignore[union-attr]
    consumer_id = created.consumer_id  # type: ignore[union-attr]
    fetched = await cf.queues.consumers.get(consumer_id, account_id=ACCOUNT, queue_id=tasks)
    assert fetched is not None and fetched.type == "http_pull"  # type: ignore[union-attr]
    await cf.queues.consumers.delete(consumer_id, account_id=ACCOUNT, queue_id=tasks)
    assert emulator.broker.pull_consumer("tasks") is None
    with pytest.raises(cloudflare.NotFoundError):
        await cf.queues.consumers.get(consumer_id, account_id=ACCOUNT, queue_id=tasks)
    updated = await cf.queues.update(
        tasks, account_id=ACCOUNT, queue_name="tasks", settings={"delivery_delay": 5}
    )
    assert updated is not None and updated.settings is not None
    assert updated.settings.delivery_delay == 5
