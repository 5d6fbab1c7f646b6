"""Every link in docs/*.md and README.md resolves, and no doc imports a private module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)\)")
#: A repository file named in backticks (`cfemu/limits.py`, `benchmarks/bench_d1.py`).
CITED = re.compile(
    r"`((?:cfemu|tests|docs|benchmarks|examples|migrations|shared|\.ci)/[A-Za-z0-9_./-]+)`"
)
PRIVATE_IMPORT = re.compile(r"^\s*(?:from|import)\s+cfemu[\w.]*\._\w*|import\s+_\w+", re.M)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a page."""
    found = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            found.add(slug)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_resolves(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # http(s), mailto: not fetched (no network)
            assert re.match(r"^(https?://[\w.-]+\.[a-z]{2,}\S*|mailto:\S+@\S+)$", target), target
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        missing_anchor = bool(anchor) and resolved.suffix == ".md" and resolved.exists()
        if not resolved.exists() or (missing_anchor and anchor not in _anchors(resolved)):
            broken.append(target)
    for cited in CITED.findall(text):
        if "*" not in cited and not (ROOT / cited.rstrip("/")).exists():
            broken.append(f"`{cited}`")
    assert not broken, f"{page.name}: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_example_imports_a_private_module(page: Path) -> None:
    for block in BLOCK.findall(page.read_text(encoding="utf-8")):
        assert not PRIVATE_IMPORT.search(block), f"{page.name}: {PRIVATE_IMPORT.search(block)}"


def test_the_readme_tour_prints_its_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = next(block for block in BLOCK.findall(text) if "asyncio.run(main())" in block)
    monkeypatch.chdir(tmp_path)
    exec(compile(tour, "README.md", "exec"), {"__name__": "readme_tour"})
    assert capsys.readouterr().out == "acked 2, dead-lettered 2\n"


def test_the_readme_states_the_python_it_needs() -> None:
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed = pyproject["project"]["requires-python"].removeprefix(">=")
    assert f"Python {needed} or later" in (ROOT / "README.md").read_text(encoding="utf-8")
    extras = pyproject["project"]["optional-dependencies"]
    assert any(dep.startswith("hypothesis") for dep in extras["testing"])
    assert not any(dep.startswith(("ruff", "mypy")) for dep in extras["test"])
    assert "'.[test,dev,browser]'" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert any(dep.startswith("playwright") for dep in extras["browser"])
