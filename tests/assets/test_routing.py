"""Assets in front of the Worker: run_worker_first, navigations, env.ASSETS, ASGI."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cfemu import Emulator, VirtualClock
from cfemu.errors import ConfigError
from tests.assets.conftest import write_files

pytestmark = pytest.mark.anyio

WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.url.endswith("/via-binding"):
            asset = await self.env.ASSETS.fetch("https://assets.local/data.json")
            return Response(await asset.text(), headers={"x-from": "binding",
                            "content-type": asset.headers["content-type"]})
        if request.url.endswith("/missing-via-binding"):
            return await self.env.ASSETS.fetch(request)
        return Response("worker:" + request.url.split("/", 3)[3])
"""
FILES: dict[str, str | bytes] = {
    "index.html": "HOME",
    "about.html": "ABOUT",
    "api/static.txt": "STATIC API FILE",
    "data.json": '{"ok": true}',
    "_headers": "/*\n  x-asset: yes\n",
}


def project(tmp_path: Path, assets: str, *, main: bool = True, flags: str = "") -> Path:
    write_files(tmp_path / "public", FILES)
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "wrangler.toml").write_text(
        f'name = "site"\ncompatibility_date = "2026-01-01"\n'
        f"compatibility_flags = [{flags}]\n"
        + ('main = "worker.py"\n' if main else "")
        + f'[assets]\ndirectory = "public"\nbinding = "ASSETS"\n{assets}\n'
    )
    return tmp_path / "wrangler.toml"


async def fetch_all(config: Path, paths: list[str], **headers: str) -> list[tuple[int, str]]:
    async with (
        Emulator.from_config(config, clock=VirtualClock()) as emulator,
        emulator.client() as client,
    ):
        out = []
        for path in paths:
            response = await client.get(
                path, headers={k.replace("_", "-"): v for k, v in headers.items()}
            )
            out.append((response.status_code, response.text))
        return out


async def test_assets_answer_first_and_misses_reach_the_worker(tmp_path: Path) -> None:
    config = project(tmp_path, 'not_found_handling = "single-page-application"')
    assert await fetch_all(config, ["/", "/about", "/api/x", "/about.html"]) == [
        (200, "HOME"),
        (200, "ABOUT"),
        (200, "worker:api/x"),  # the SPA fallback does not count: the Worker answers
        (307, ""),
    ]


async def test_navigations_keep_the_spa_fallback_unless_flagged_off(tmp_path: Path) -> None:
    config = project(tmp_path, 'not_found_handling = "single-page-application"')
    navigate = await fetch_all(config, ["/app/route"], sec_fetch_mode="navigate")
    assert navigate == [(200, "HOME")]
    (tmp_path / "public").rename(tmp_path / "old")
    older = project(
        tmp_path,
        'not_found_handling = "single-page-application"',
        flags='"assets_navigation_has_no_effect"',
    )
    assert await fetch_all(older, ["/app/route"], sec_fetch_mode="navigate") == [
        (200, "worker:app/route")
    ]


async def test_run_worker_first_true_sends_everything_to_the_worker(tmp_path: Path) -> None:
    config = project(tmp_path, "run_worker_first = true")
    assert await fetch_all(config, ["/", "/about"]) == [(200, "worker:"), (200, "worker:about")]


async def test_run_worker_first_rules_route_by_path(tmp_path: Path) -> None:
    config = project(
        tmp_path,
        'run_worker_first = ["/api/*", "!/api/static.txt"]\nnot_found_handling = "404-page"',
    )
    (tmp_path / "public" / "404.html").write_text("NOT HERE")
    assert await fetch_all(config, ["/api/x/y", "/api/static.txt", "/api", "/about", "/zz"]) == [
        (200, "worker:api/x/y"),
        (200, "STATIC API FILE"),  # negative rules are checked first
        (404, "NOT HERE"),  # /api/* does not match /api: assets, with the 404 page
        (200, "ABOUT"),
        (404, "NOT HERE"),  # with rules, not_found_handling counts
    ]


async def test_without_a_worker_script_every_request_goes_to_assets(tmp_path: Path) -> None:
    config = project(tmp_path, "", main=False)
    assert await fetch_all(config, ["/about", "/nothing"]) == [(200, "ABOUT"), (404, "")]


async def test_env_assets_fetch_from_the_worker(tmp_path: Path) -> None:
    config = project(tmp_path, "run_worker_first = true")
    async with (
        Emulator.from_config(config, clock=VirtualClock()) as emulator,
        emulator.client() as client,
    ):
        via = await client.get("/via-binding")
        assert (via.status_code, via.json()) == (200, {"ok": True})
        assert via.headers["content-type"].startswith("application/json")
        assert "x-asset" not in via.headers  # _headers never touch the Worker's responses
        missing = await client.get("/missing-via-binding")
        assert missing.status_code == 404
        assert (await emulator.env.ASSETS.fetch("https://x/about")).status == 200
        head = await emulator.env.ASSETS.fetch("https://x/about", method="HEAD")
        assert (head.status, await head.text()) == (200, "")
        assert head.headers["etag"]
        with pytest.raises(TypeError, match="Fetch API cannot load"):
            await emulator.env.ASSETS.fetch("/about")


async def test_asset_headers_rules_apply_to_asset_responses(tmp_path: Path) -> None:
    config = project(tmp_path, "")
    async with (
        Emulator.from_config(config, clock=VirtualClock()) as emulator,
        emulator.client() as client,
    ):
        assert (await client.get("/about")).headers["x-asset"] == "yes"
        assert "x-asset" not in (await client.get("/api/x")).headers


async def test_the_asgi_app_serves_assets_before_the_worker(tmp_path: Path) -> None:
    config = project(tmp_path, "")
    async with Emulator.from_config(config, clock=VirtualClock()) as emulator:
        transport = httpx.ASGITransport(app=emulator.asgi())
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            page = await client.get("/about")
            assert (page.status_code, page.text) == (200, "ABOUT")
            etag = page.headers["etag"]
            again = await client.get("/about", headers={"if-none-match": etag})
            assert (again.status_code, again.content) == (304, b"")
            assert (await client.get("/api/x")).text == "worker:api/x"
            head = await client.head("/about")
            assert (head.status_code, head.content) == (200, b"")


async def test_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "wrangler.toml").write_text('name = "x"\n[assets]\ndirectory = "nope"\n')
    with pytest.raises(ConfigError) as info:
        async with Emulator.from_config(tmp_path / "wrangler.toml", clock=VirtualClock()):
            pass
    assert info.value.key_path == "assets.directory"


@pytest.mark.parametrize(
    ("date", "flags", "expected"),
    [
        ("2025-04-01", "", "asset"),
        ("2025-03-31", "", "worker"),
        ("2025-03-31", '"assets_navigation_prefers_asset_serving"', "asset"),
        ("2026-01-01", '"assets_navigation_has_no_effect"', "worker"),
    ],
)
async def test_navigation_preference_follows_date_and_flags(
    tmp_path: Path, date: str, flags: str, expected: str
) -> None:
    from cfemu._faults import Faults
    from cfemu._tasks import TaskTracker
    from cfemu.assets import AssetsService
    from cfemu.bindings import ServiceContext
    from cfemu.config import load_config
    from cfemu.runtime.http import Request, Response

    write_files(tmp_path / "public", {"index.html": "HOME"})
    (tmp_path / "wrangler.toml").write_text(
        f'name = "s"\nmain = "w.py"\ncompatibility_date = "{date}"\n'
        f"compatibility_flags = [{flags}]\n"
        '[assets]\ndirectory = "public"\nnot_found_handling = "single-page-application"\n'
    )
    config = load_config(tmp_path / "wrangler.toml")
    service = AssetsService(ServiceContext(VirtualClock(), TaskTracker(), Faults(), (config,)))
    await service.start()

    async def worker_fetch(request: Request) -> Response:
        return Response("worker")

    dispatch = service.wrap_fetch(config, worker_fetch)
    navigate = Request.incoming("GET", "http://x/app/route", [("sec-fetch-mode", "navigate")], None)
    body = (await dispatch(navigate)).raw_body()
    assert body == (b"HOME" if expected == "asset" else b"worker")
    plain = Request.incoming("GET", "http://x/app/route", [], None)
    assert (await dispatch(plain)).raw_body() == b"worker"  # no navigation: the Worker
