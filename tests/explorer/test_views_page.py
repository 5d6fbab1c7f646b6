"""The page as served: every view's tab, section and script put in, no marker left."""

from __future__ import annotations

import httpx
import pytest

from cfemu.explorer.views import VIEWS

pytestmark = pytest.mark.anyio


async def test_every_view_has_its_tab_section_and_script(client: httpx.AsyncClient) -> None:
    page = (await client.get("/cdn-cgi/local/explorer")).text
    assert "cfemu:" not in page  # every marker replaced
    for kind, label in VIEWS:
        assert f'<button id="tab-{kind}" data-tab="{kind}">{label}</button>' in page
        assert page.count(f'<section id="view-{kind}" hidden>') == 1
        assert f"VIEWS.{kind} = " in page
    # The views' scripts come after the page's own, which defines what they use.
    assert page.index("async function api(") < min(
        page.index(f"VIEWS.{kind} = ") for kind, _ in VIEWS
    )
