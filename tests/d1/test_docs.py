"""The runnable example of docs/d1.md runs and prints what the page says it prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "d1.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_doc_has_one_self_contained_example() -> None:
    runnable = [b for b in _blocks("python") if b.startswith("import ")]
    assert len(runnable) == 1


def test_docs_example_prints_what_the_doc_says(capsys: pytest.CaptureFixture[str]) -> None:
    example = next(b for b in _blocks("python") if b.startswith("import "))
    exec(compile(example, str(DOC), "exec"), {"__name__": "__docs__"})
    printed = capsys.readouterr().out
    match = re.search(r"\nprints\n\n```\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert match is not None
    assert printed == match.group(1)
