"""html_handling × not_found_handling: every cell of Cloudflare's table (spec §2.4, §2.5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu.assets import AssetHandler, Manifest
from tests.assets.conftest import get, write_files

FILES: dict[str, str | bytes] = {
    "file.html": "FILE",
    "folder/index.html": "FOLDER",
    "index.html": "ROOT",
    "404.html": "NOT FOUND PAGE",
}
MODES = ("auto-trailing-slash", "force-trailing-slash", "drop-trailing-slash", "none")

# Per request, per html_handling mode: "200 <body>", "-> <location>" (a 307), or "nf" (not
# found: not_found_handling decides). Cloudflare's table, with two cells where the
# asset-worker's code differs from the docs' table (it redirects to where the file is served
# in one hop; spec §5.8): auto /folder/index(.html) -> /folder/ and auto /folder.html ->
# /folder/.
TABLE: dict[str, tuple[str, str, str, str]] = {
    "/file": ("200 FILE", "-> /file/", "200 FILE", "nf"),
    "/file.html": ("-> /file", "-> /file/", "-> /file", "200 FILE"),
    "/file/": ("-> /file", "200 FILE", "-> /file", "nf"),
    "/file/index": ("-> /file", "-> /file/", "-> /file", "nf"),
    "/file/index.html": ("-> /file", "-> /file/", "-> /file", "nf"),
    "/folder": ("-> /folder/", "-> /folder/", "200 FOLDER", "nf"),
    "/folder.html": ("-> /folder/", "-> /folder/", "-> /folder", "nf"),
    "/folder/": ("200 FOLDER", "200 FOLDER", "-> /folder", "nf"),
    "/folder/index": ("-> /folder/", "-> /folder/", "-> /folder", "nf"),
    "/folder/index.html": ("-> /folder/", "-> /folder/", "-> /folder", "200 FOLDER"),
    "/": ("200 ROOT", "200 ROOT", "200 ROOT", "nf"),
    "/missing": ("nf", "nf", "nf", "nf"),
    "/folder/deep/missing": ("nf", "nf", "nf", "nf"),
}
NOT_FOUND = {
    "none": (404, ""),
    "single-page-application": (200, "ROOT"),
    "404-page": (404, "NOT FOUND PAGE"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_files(tmp_path_factory.mktemp("matrix"), FILES)


@pytest.mark.parametrize("not_found", list(NOT_FOUND))
@pytest.mark.parametrize("mode_index", range(4), ids=MODES)
@pytest.mark.parametrize("path", list(TABLE))
def test_html_handling_and_not_found_handling_matrix(
    folder: Path, path: str, mode_index: int, not_found: str
) -> None:
    site = AssetHandler(
        Manifest(folder), html_handling=MODES[mode_index], not_found_handling=not_found
    )
    cell = TABLE[path][mode_index]
    response = get(site, path + "?q=1")
    if cell.startswith("->"):
        assert response.status == 307
        assert response._headers.get("location") == cell[3:] + "?q=1"  # the query is kept
        assert response.raw_body() is None
    elif cell.startswith("200"):
        assert (response.status, response.raw_body()) == (200, cell[4:].encode())
    else:
        status, body = NOT_FOUND[not_found]
        assert (response.status, (response.raw_body() or b"").decode()) == (status, body)
