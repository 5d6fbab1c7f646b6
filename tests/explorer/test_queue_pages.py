"""The explorer's message list is paged (Cloudflare's ``page``/``per_page``): pages are
consecutive slices of the whole listing, totals come from the gauges."""

from __future__ import annotations

import httpx
import pytest

from cfemu import Emulator

from .test_api import API, error, result

pytestmark = pytest.mark.anyio


async def test_pages_are_consecutive_slices_with_totals(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    await client.post(f"{API}/queues/jobs/pause")
    for first in range(0, 230, 10):
        await emulator.env.JOBS.sendBatch([{"body": i} for i in range(first, first + 10)])
    await emulator.env.JOBS.sendBatch(
        [{"body": f"d{i}", "delaySeconds": 90 - i} for i in range(20)]
    )
    peek = f"{API}/queues/jobs/messages"
    seen: list[str] = []
    for page in (1, 2, 3):
        listed = await client.get(f"{peek}?page={page}&per_page=100")
        info = listed.json()["result_info"]
        assert info == {
            "page": page,
            "per_page": 100,
            "count": 100 if page < 3 else 50,
            "total_count": 250,
            "total_pages": 3,
        }
        seen += [m["id"] for m in result(listed)]
    assert seen == [m.id for m in emulator.queues["jobs"].messages()]
    assert result(await client.get(f"{peek}?page=4&per_page=100")) == []
    delayed = result(await client.get(f"{peek}?state=delayed&page=2&per_page=15"))
    assert [m["body_preview"] for m in delayed] == ["d4", "d3", "d2", "d1", "d0"]
    ready = await client.get(f"{peek}?state=ready&per_page=7&page=33")
    assert ready.json()["result_info"]["total_count"] == 230
    assert [m["body_preview"] for m in result(ready)] == ["224", "225", "226", "227", "228", "229"]
    assert "page" in error(await client.get(f"{peek}?page=0"), 400, 10001)
    assert "per_page" in error(await client.get(f"{peek}?per_page=1001"), 400, 10001)
    assert emulator.queues["jobs"].stats().delivered == 0
