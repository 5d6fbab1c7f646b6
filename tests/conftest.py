"""Shared test configuration.

Async tests run on asyncio through anyio's pytest plugin. Hypothesis never applies its
per-example deadline (timing on a loaded 2-core CI machine is not behaviour), and under CI
(``CI`` set) it runs derandomized, so a CI failure reproduces exactly.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("cfemu", deadline=None)
settings.register_profile("cfemu-ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("cfemu-ci" if os.environ.get("CI") else "cfemu")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
