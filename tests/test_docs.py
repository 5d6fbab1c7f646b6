"""Every ```python block in docs/*.md and README.md runs (blocks of one page share a namespace).

Snippets that are not meant to run on their own (fragments of a Worker, shell sessions) are
fenced as ```py or another language, so they are shown but not executed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([*ROOT.joinpath("docs").glob("*.md"), ROOT / "README.md"])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


@pytest.mark.parametrize(
    "page", [p for p in PAGES if _blocks(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_docs_examples_run(page: Path, tmp_path: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        for i, block in enumerate(_blocks(page)):
            code = compile(block, f"{page.name}[block {i}]", "exec")
            exec(code, namespace)
    finally:
        os.chdir(cwd)
