"""Helpers of the asset tests: a folder of files and requests against a handler."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cfemu.assets import AssetHandler, Manifest
from cfemu.runtime.http import FetchResponse, Request

MakeSite = Callable[..., AssetHandler]


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


@pytest.fixture
def make_site(tmp_path: Path) -> MakeSite:
    def make(files: dict[str, str | bytes], **options: str) -> AssetHandler:
        root = write_files(tmp_path / "public", files)
        return AssetHandler(Manifest(root), **options)

    return make


def get(handler: AssetHandler, path: str, method: str = "GET", **headers: str) -> FetchResponse:
    pairs = [(k.replace("_", "-"), v) for k, v in headers.items()]
    return handler.handle(Request.incoming(method, f"https://example.com{path}", pairs, None))
