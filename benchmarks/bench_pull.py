"""Pull consumers over HTTP next to a push consumer, in the same run (on demand).

Run: ``python benchmarks/bench_pull.py [--messages N]``. Not collected by pytest.

1. Push: N messages sent to a queue whose consumer is a Python handler acking batches of 100
   (in process, real clock): messages per second, send to last ack.
2. Pull over HTTP: the same N messages in a queue with an ``http_pull`` consumer, drained by
   a client on loopback pulling batches of 100 from ``cfemu``'s REST API and acking each
   batch (two HTTP requests per 100 messages): messages per second.
Prints both and pull/push. Pull pays for HTTP, JSON and base64 per message; the ratio says
how much a consumer moved off Workers gives up locally.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from cfemu._tasks import TaskTracker
from cfemu.clock import RealClock
from cfemu.queues import Broker, ConsumerSettings, MessageBatch
from cfemu.queues.pull import PullSettings

BATCH = 100


async def push(n: int) -> float:
    clock, tracker = RealClock(), TaskTracker()
    broker = Broker(clock, tracker)
    done = asyncio.Event()
    acked = 0

    async def handler(batch: MessageBatch) -> None:
        nonlocal acked
        for msg in batch.messages:
            msg.ack()
        acked += len(batch.messages)
        if acked >= n:
            done.set()

    broker.set_consumer("q", ConsumerSettings(max_batch_size=BATCH, max_batch_timeout=0), handler)
    producer = broker.producer("q")
    started = time.perf_counter()
    for i in range(0, n, BATCH):
        await producer.sendBatch([{"body": {"i": j}} for j in range(i, min(i + BATCH, n))])
    await done.wait()
    elapsed = time.perf_counter() - started
    await broker.aclose()
    await tracker.aclose()
    return n / elapsed


async def pull(n: int) -> float:
    import tempfile
    from pathlib import Path

    import uvicorn

    from cfemu import Emulator
    from cfemu.api import api_app
    from cfemu.queues.service import QueueService

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "wrangler.toml"
        config.write_text('name = "bench"\n[[queues.producers]]\nbinding = "Q"\nqueue = "q"\n')
        async with Emulator.from_config(config, clock=RealClock()) as emulator:
            admin = emulator.service(QueueService).admin
            assert admin is not None
            consumer = emulator.broker.set_pull_consumer("q", PullSettings(batch_size=BATCH))
            for i in range(0, n, BATCH):
                await emulator.env.Q.sendBatch(
                    [{"body": {"i": j}} for j in range(i, min(i + BATCH, n))]
                )
            server = uvicorn.Server(
                uvicorn.Config(
                    api_app(emulator), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
                )
            )
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            base = f"http://127.0.0.1:{port}/client/v4/accounts/a/queues/q/messages"
            got = 0
            started = time.perf_counter()
            async with httpx.AsyncClient(headers={"Authorization": "Bearer b"}) as http:
                while got < n:
                    answer = (await http.post(f"{base}/pull", json={"batch_size": BATCH})).json()
                    leases = [{"lease_id": m["lease_id"]} for m in answer["result"]["messages"]]
                    got += len(leases)
                    await http.post(f"{base}/ack", json={"acks": leases})
            elapsed = time.perf_counter() - started
            assert consumer.backlog_count() == 0
            server.should_exit = True
            await serving
    return n / elapsed


def main() -> None:
    """Run both measurements and print them side by side."""
    parser = argparse.ArgumentParser(description="pull over HTTP vs push, messages per second")
    parser.add_argument("--messages", type=int, default=20_000)
    n = parser.parse_args().messages
    pushed = asyncio.run(push(n))
    pulled = asyncio.run(pull(n))
    print(f"push consumer (in process):  {pushed:12,.0f} msg/s")
    print(f"pull consumer (HTTP, 100/req): {pulled:10,.0f} msg/s")
    print(f"pull / push: {pulled / pushed:.1%}")


if __name__ == "__main__":
    main()
