"""The Local Explorer in a real headless Chromium, against a real ``cfemu dev`` server.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and Playwright for Python (the
``browser`` extra); Playwright only drives the system Chromium, it downloads nothing.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import anyio
import httpx
import pytest

from cfemu import Emulator, RealClock
from cfemu.cli.dev import make_server

from .conftest import SCHEMA, write_project

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Emulator]]:
    """A ``cfemu dev`` server of the explorer project on a free loopback port."""
    config = write_project(tmp_path)
    emulator = Emulator.from_config(config, clock=RealClock(), persist_to=tmp_path / "state")
    async with emulator:
        await emulator.env.DB.exec(SCHEMA.replace("; ", ";\n"))
        server = make_server(emulator, ip="127.0.0.1", port=0)
        serving = asyncio.create_task(server.serve())
        try:
            with anyio.fail_after(10):
                while not server.started:
                    await asyncio.sleep(0)
            port = server.servers[0].sockets[0].getsockname()[1]
            yield f"http://127.0.0.1:{port}", emulator
        finally:
            server.should_exit = True
            await serving


async def test_the_explorer_shows_queues_filling_peeks_and_runs_sql(
    served: tuple[str, Emulator], tmp_path: Path
) -> None:
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="Playwright is not installed (the browser extra)"
    )
    expect = playwright_api.expect
    base, emulator = served
    problems: list[str] = []
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            failed: list[str] = []
            page.on(
                "response",
                lambda r: failed.append(f"{r.request.method} {r.url}") if r.status >= 400 else None,
            )
            await page.goto(f"{base}/cdn-cgi/local/explorer")
            jobs = page.locator('#queues-table tr[data-queue="jobs"]')
            await expect(jobs.locator("td.depth")).to_have_text("0")
            await expect(
                page.locator('#queues-table tr[data-queue="jobs-dlq"] td.dlq')
            ).to_have_text("DLQ of jobs")

            # Pause delivery from the page, then watch the queue fill as the Worker sends.
            await jobs.locator("button.pause").click()
            await expect(jobs.locator("td.name")).to_contain_text("(paused)")
            async with httpx.AsyncClient(base_url=base) as http:
                assert (await http.get("/?n=5")).json() == {"sent": 5}
            await expect(jobs.locator("td.depth")).to_have_text("5")
            await expect(jobs.locator("td.sent")).to_have_text("5")
            await page.screenshot(path=tmp_path / "queues.png", full_page=True)

            # Peek: the messages are listed, nothing is consumed.
            await jobs.locator("button.messages").click()
            rows = page.locator("#messages-table tbody tr")
            await expect(rows).to_have_count(5)
            await expect(rows.first.locator("td.preview")).to_have_text('{"task":0}')
            await expect(rows.first.locator("td.state")).to_have_text("ready")
            await page.screenshot(path=tmp_path / "messages.png", full_page=True)
            assert emulator.queues["jobs"].stats().delivered == 0

            # Resume: the consumer drains the queue.
            await jobs.locator("button.resume").click()
            await expect(jobs.locator("td.acked")).to_have_text("5", timeout=10_000)
            await expect(jobs.locator("td.depth")).to_have_text("0")
            # The live chart of rates (inline SVG, sampled as the page polls) drew its lines.
            for line in ("sent", "moved_in", "acked", "retried", "dead_lettered", "dropped"):
                await expect(page.locator(f"#rates-chart polyline.{line}")).to_have_count(1)
            await expect(page.locator("#rates-legend .rate-acked")).to_contain_text("acked")
            await page.screenshot(path=tmp_path / "rates.png", full_page=True)

            # A consumer outage dead-letters two messages; Redrive brings them back.
            dlq = page.locator('#queues-table tr[data-queue="jobs-dlq"]')
            await emulator.env.DB.exec("INSERT INTO outage (why) VALUES ('down')")
            async with httpx.AsyncClient(base_url=base) as http:
                assert (await http.get("/?n=2")).json() == {"sent": 2}
            await expect(dlq.locator("td.depth")).to_have_text("2", timeout=10_000)
            await expect(jobs.locator("td.dead-lettered")).to_have_text("2")
            await emulator.env.DB.exec("DELETE FROM outage")
            # Selective redrive: tick one dead-lettered message and send only it back...
            await dlq.locator("button.messages").click()
            await expect(rows).to_have_count(2)
            await rows.first.locator("input.pick").check()
            await expect(page.locator("#redrive-picked")).to_have_text("Redrive 1 selected")
            await page.screenshot(path=tmp_path / "redrive.png", full_page=True)
            await page.locator("#redrive-picked").click()
            await expect(page.locator("#status")).to_have_text("Moved 1 message(s) back to jobs")
            await expect(jobs.locator("td.acked")).to_have_text("6", timeout=10_000)
            await expect(dlq.locator("td.depth")).to_have_text("1")
            # ...then the rest with the row's Redrive (all).
            await dlq.locator("button.redrive").click()
            await expect(page.locator("#status")).to_have_text("Moved 1 message(s) back to jobs")
            await expect(jobs.locator("td.acked")).to_have_text("7", timeout=10_000)
            await expect(dlq.locator("td.depth")).to_have_text("0")

            # D1: the tables, a query and D1's error for a bad one.
            await page.locator("#tab-d1").click()
            await expect(page.locator('#tables-table tr[data-table="done"]')).to_have_count(1)
            await page.locator("#sql-input").fill("SELECT count(*) AS n FROM done")
            await page.locator("#sql-run").click()
            await expect(page.locator("#sql-results tbody td")).to_have_text("7")
            await page.screenshot(path=tmp_path / "d1.png", full_page=True)
            await page.locator("#sql-input").fill("SELECT * FROM nope")
            await page.locator("#sql-run").click()
            await expect(page.locator("#sql-error")).to_contain_text("no such table: nope")
            await expect(page.locator("#sql-results tbody tr")).to_have_count(0)
            await page.screenshot(path=tmp_path / "d1-error.png", full_page=True)

            # A saved-query link opens D1 with its query run; a table's rows come in pages.
            sql = "SELECT count(*) AS n FROM done"
            await page.goto(f"{base}/cdn-cgi/local/explorer?tab=d1&db=tasks-db&sql={quote(sql)}")
            await expect(page.locator("#sql-results tbody td")).to_have_text("7")
            href = await page.locator("#sql-link").get_attribute("href")
            assert href is not None and href.startswith("/cdn-cgi/local/explorer?")
            assert parse_qs(urlsplit(href).query) == {
                "tab": ["d1"],
                "db": ["tasks-id"],
                "sql": [sql],
            }
            await page.locator('#tables-table tr[data-table="done"] td.name').click()
            await expect(page.locator("#rows-info")).to_have_text("page 1 of 1 (7 row(s))")
            await expect(page.locator("#rows-table tbody tr")).to_have_count(7)
            await page.screenshot(path=tmp_path / "d1-rows.png", full_page=True)

            # KV: write a value with metadata and a TTL from the page, list it, read it back.
            await page.goto(f"{base}/cdn-cgi/local/explorer?tab=kv")
            await expect(page.locator("#kv-ns")).to_have_text("CACHE")
            await page.locator("#kv-key").fill("greeting")
            await page.locator("#kv-value").fill("hello")
            await page.locator("#kv-metadata").fill('{"lang": "en"}')
            await page.locator("#kv-ttl").fill("3600")
            await page.locator("#kv-put").click()
            key_row = page.locator('#kv-keys tr[data-key="greeting"]')
            await expect(key_row.locator("td.metadata")).to_have_text('{"lang":"en"}')
            assert await emulator.env.CACHE.get("greeting") == "hello"
            await page.locator("#kv-value").fill("")
            await key_row.locator("td.name").click()
            await expect(page.locator("#kv-value")).to_have_value("hello")
            await page.screenshot(path=tmp_path / "kv.png", full_page=True)

            # Durable Objects: an object with storage, its table read with read-only SQL.
            await emulator.env.TALLY.getByName("home").hit(3)
            await page.goto(f"{base}/cdn-cgi/local/explorer?tab=do")
            tally = page.locator("#do-objects tbody tr").first
            await expect(tally.locator("td.name")).to_have_text("home")
            await tally.locator("td.name").click()
            await page.locator('#do-tables tr[data-table="hits"] td.name').click()
            await expect(page.locator("#do-results tbody td")).to_have_text("3")
            await expect(page.locator("#do-kv td.preview")).to_have_text("3")
            await page.screenshot(path=tmp_path / "do.png", full_page=True)

            # Workflows: an instance with its status and steps.
            await emulator.env.CHORES.create(id="c1", params={"what": "dishes"})
            await page.goto(f"{base}/cdn-cgi/local/explorer?tab=workflows")
            chore = page.locator('#wf-instances tr[data-id="c1"]')
            await expect(chore.locator("td.status")).to_have_text("waiting", timeout=10_000)
            await chore.locator("td.name").click()
            await expect(page.locator('#wf-steps tr[data-step="wash"] td.result')).to_have_text(
                '{"washed":"dishes"}'
            )
            await expect(page.locator('#wf-steps tr[data-step="rest"] td.type')).to_have_text(
                "sleep"
            )
            await page.screenshot(path=tmp_path / "workflows.png", full_page=True)
            # ...and deleted (after the confirmation), with its history.
            page.once("dialog", lambda dialog: dialog.accept())
            await page.locator("#wf-actions button.wf-delete").click()
            await expect(chore).to_have_count(0)
            await expect(page.locator("#wf-instance")).to_be_hidden()
            with pytest.raises(Exception, match=r"instance\.not_found"):
                await emulator.env.CHORES.get("c1")
        finally:
            await browser.close()
    # Chromium logs every failed response as a console error: the only one allowed is the
    # bad query's, which D1 answers 500 as Cloudflare's local explorer does.
    assert failed == [f"POST {base}/cdn-cgi/local/explorer/api/d1/database/tasks-id/raw"]
    logged = [m for m in problems if "Failed to load resource" in m]
    assert [m for m in problems if m not in logged] == []
    assert len(logged) == len(failed)
    assert all((tmp_path / f"{name}.png").stat().st_size > 0 for name in ("queues", "d1"))
