"""Each alarm is one invocation line, as ``cfemu dev`` shows requests and batches."""

from __future__ import annotations

import logging

import pytest

from tests.durable_objects.conftest import Host
from tests.durable_objects.test_alarms import WORKER

pytestmark = pytest.mark.anyio


async def test_each_alarm_run_logs_one_line_with_its_outcome(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    host.start(WORKER)
    host.worker.module.FAIL["times"] = 1
    stub = host.ns().getByName("a")
    await stub.schedule(host.clock.now_ms() + 1000)
    with caplog.at_level(logging.INFO, logger="cfemu.alarms"):
        await host.drain()
    lines = [r.getMessage() for r in caplog.records if r.name == "cfemu.alarms"]
    assert [line.rsplit(" (", 1)[0] for line in lines] == [
        "ALARM w-Counter failed",
        "ALARM w-Counter ok",
    ]
    assert all(line.endswith("ms)") for line in lines)
