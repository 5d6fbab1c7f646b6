"""docs/queues.md's example runs and its assertions hold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "queues.md"


def test_queues_doc_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert blocks, "docs/queues.md has no python example"
    result = subprocess.run(
        [sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "backlogCount': 6" in result.stdout
    assert "acked=6" in result.stdout
