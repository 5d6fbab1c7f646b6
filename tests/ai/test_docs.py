"""The runnable example of docs/ai.md runs and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "ai.md"


def runnable_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    return [block for block in blocks if block.startswith("import ")]


def test_the_doc_has_a_self_contained_example() -> None:
    assert len(runnable_blocks()) == 1


@pytest.mark.parametrize("block", runnable_blocks())
def test_docs_example_runs(block: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(block, str(DOC), "exec"), {"__name__": "__docs__"})
    out = capsys.readouterr().out
    assert "first call failed: 3040: No more data centers" in out
    assert "it works now" in out
    assert "AiStats(" in out
