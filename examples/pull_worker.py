"""The AI pipeline's consumer as a plain Python process: an HTTP pull consumer.

It uses only the official ``cloudflare`` SDK, so the same script runs against Cloudflare and
against ``cfemu dev`` (only ``CLOUDFLARE_API_BASE_URL`` differs):

1. make sure ``ai-processing-queue`` has an ``http_pull`` consumer (``max_retries = 2``,
   dead-letter queue ``ai-processing-dlq``);
2. pull a batch; for each task: mark it ``processing`` in D1 (REST ``query``), ask Workers AI
   (REST ``ai/run``), store the answer and mark it ``completed``;
3. ack what succeeded; retry what failed, with a back-off that grows with the attempt.

    cfemu dev -c examples/pull_worker.toml --apply-migrations     # the front Worker
    python examples/pull_worker.py                                  # this consumer

Environment: ``CLOUDFLARE_API_BASE_URL`` (default ``http://127.0.0.1:8787/client/v4``),
``CLOUDFLARE_API_TOKEN`` (any token for cfemu), ``CLOUDFLARE_ACCOUNT_ID`` (any id for cfemu).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from typing import Any

from cloudflare import Cloudflare

QUEUE = "ai-processing-queue"
DEAD_LETTER_QUEUE = "ai-processing-dlq"
DATABASE = "ai-tasks"
MODEL = "@cf/meta/llama-3.1-8b-instruct"
RETRY_DELAY_SECONDS = 1


def connect() -> tuple[Cloudflare, str]:
    """The SDK client and account id, from the environment."""
    base = os.environ.get("CLOUDFLARE_API_BASE_URL", "http://127.0.0.1:8787/client/v4")
    token = os.environ.get("CLOUDFLARE_API_TOKEN", "local-token")
    account = os.environ.get("CLOUDFLARE_ACCOUNT_ID", "0" * 32)
    return Cloudflare(api_token=token, base_url=base, max_retries=2), account


def ensure_pull_consumer(cf: Cloudflare, account: str) -> str:
    """The queue's id, after giving it an http_pull consumer if it has none."""
    [queue] = [q for q in cf.queues.list(account_id=account) if q.queue_name == QUEUE]
    assert queue.queue_id is not None
    consumers = list(cf.queues.consumers.list(queue.queue_id, account_id=account))
    if not any(c.type == "http_pull" for c in consumers):
        cf.queues.consumers.create(
            queue.queue_id,
            account_id=account,
            type="http_pull",
            dead_letter_queue=DEAD_LETTER_QUEUE,
            settings={"batch_size": 5, "max_retries": 2, "visibility_timeout_ms": 60_000},
        )
    return queue.queue_id


def sql(cf: Cloudflare, account: str, query: str, *params: Any) -> list[Any]:
    """Run one statement on the tasks database; its rows."""
    page = cf.d1.database.query(
        DATABASE, account_id=account, sql=query, params=[str(p) for p in params]
    )
    return list(page.result[0].results or [])


def process(cf: Cloudflare, account: str, task_id: str, attempt: int) -> str:
    """One attempt at a task: ``completed`` or ``skipped`` (already final, or unknown)."""
    rows = sql(cf, account, "SELECT status, question, language FROM tasks WHERE id = ?", task_id)
    if not rows or rows[0]["status"] in ("completed", "failed"):
        return "skipped"
    now = int(time.time() * 1000)
    sql(
        cf,
        account,
        "UPDATE tasks SET status = 'processing', attempts = ?, updated_ms = ?, "
        "started_ms = COALESCE(started_ms, ?) WHERE id = ?",
        attempt,
        now,
        now,
        task_id,
    )
    answer = cf.ai.run(
        MODEL,
        account_id=account,
        messages=[
            {"role": "system", "content": f"Answer in the language '{rows[0]['language']}'."},
            {"role": "user", "content": rows[0]["question"]},
        ],
    )
    text = answer["response"] if isinstance(answer, dict) else str(answer)
    now = int(time.time() * 1000)
    sql(
        cf,
        account,
        "UPDATE tasks SET status = 'completed', result = ?, segments_total = 1, "
        "updated_ms = ?, completed_ms = ? WHERE id = ?",
        text,
        now,
        now,
        task_id,
    )
    return "completed"


def run(max_idle_polls: int | None = None, poll_seconds: float = 0.5) -> dict[str, int]:
    """Pull, process and ack until interrupted (or ``max_idle_polls`` empty pulls in a row);
    returns counts of ``completed``, ``skipped`` and ``retried`` messages."""
    cf, account = connect()
    queue_id = ensure_pull_consumer(cf, account)
    counts = {"completed": 0, "skipped": 0, "retried": 0}
    idle = 0
    while max_idle_polls is None or idle < max_idle_polls:
        pulled = cf.queues.messages.pull(queue_id, account_id=account, batch_size=5)
        messages = (pulled.messages if pulled else None) or []
        if not messages:
            idle += 1
            time.sleep(poll_seconds)
            continue
        idle = 0
        acks: list[dict[str, str]] = []
        retries: list[dict[str, Any]] = []
        for message in messages:
            task = json.loads(base64.b64decode(message.body or ""))
            try:
                outcome = process(cf, account, task["taskId"], int(message.attempts or 1))
            except Exception as exc:  # the AI step or D1 failed: try again later
                print(f"task {task.get('taskId')}: {type(exc).__name__}: {exc}", file=sys.stderr)
                delay = RETRY_DELAY_SECONDS * int(message.attempts or 1)
                retries.append({"lease_id": message.lease_id or "", "delay_seconds": delay})
                counts["retried"] += 1
                continue
            counts[outcome] += 1
            acks.append({"lease_id": message.lease_id or ""})
        cf.queues.messages.ack(queue_id, account_id=account, acks=acks, retries=retries)
    return counts


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python examples/pull_worker.py [--max-idle-polls N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-idle-polls", type=int, help="stop after this many empty pulls in a row"
    )
    parser.add_argument("--poll-seconds", type=float, default=0.5, help="wait after an empty pull")
    args = parser.parse_args(argv)
    try:
        counts = run(args.max_idle_polls, args.poll_seconds)
    except KeyboardInterrupt:
        return 0
    print(f"pull worker: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
