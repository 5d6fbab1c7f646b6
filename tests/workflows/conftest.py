"""A Worker project with one Workflow, for the Workflows tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

CONFIG = """
name = "app"
main = "worker.py"
compatibility_date = "{date}"
compatibility_flags = ["python_workers"]

[[workflows]]
name = "flow"
binding = "FLOW"
class_name = "Flow"
"""


def project(tmp_path: Path, source: str, *, date: str = "2026-03-01") -> Path:
    """A project folder holding ``source`` as its Worker; the config's path."""
    folder = tmp_path / "app"
    folder.mkdir(exist_ok=True)
    (folder / "worker.py").write_text(textwrap.dedent(source))
    (folder / "wrangler.toml").write_text(CONFIG.format(date=date))
    return folder / "wrangler.toml"
