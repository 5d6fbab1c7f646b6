"""The explorer page's views beside Queues: one ``<kind>.html`` (its ``<section>``) and one
``<kind>.js`` (its script) per binding kind, put into ``page.html`` when it is served.

Nothing is built: :func:`assemble_page` replaces three markers of ``page.html`` with a tab
button, the section and an inline ``<script>`` per view, so the page stays one file with no
external resource. A view's script runs after the page's own (it may use ``api``, ``cell``,
``button``, ``status``, ``$``) and registers its loader as ``VIEWS["<kind>"]``.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

__all__ = ["VIEWS", "assemble_page"]

#: (kind, tab label) of every view, in the order of their tabs (after Queues).
VIEWS: Final = (
    ("d1", "D1"),
    ("kv", "KV"),
    ("do", "Durable Objects"),
    ("workflows", "Workflows"),
)


def _read(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def assemble_page() -> bytes:
    """``page.html`` with every view's tab, section and script in place."""
    page = _read("cfemu.explorer", "page.html")
    here = __name__
    available = [
        (kind, label)
        for kind, label in VIEWS
        if resources.files(here).joinpath(f"{kind}.html").is_file()
    ]
    tabs = "\n".join(
        f'    <button id="tab-{kind}" data-tab="{kind}">{label}</button>'
        for kind, label in available
    )
    sections = "\n".join(_read(here, f"{kind}.html") for kind, _ in available)
    scripts = "\n".join(
        '<script>\n"use strict";\n' + _read(here, f"{kind}.js") + "</script>"
        for kind, _ in available
    )
    for marker, text in (
        ("<!-- cfemu:tabs -->", tabs),
        ("<!-- cfemu:views -->", sections),
        ("<!-- cfemu:scripts -->", scripts),
    ):
        if marker not in page:
            raise RuntimeError(f"cfemu/explorer/page.html lost its {marker} marker")
        page = page.replace(marker, text, 1)
    return page.encode("utf-8")
