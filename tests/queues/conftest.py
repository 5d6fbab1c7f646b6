"""Fixtures for queue tests: a fresh broker harness on a virtual clock, closed afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.queues.harness import Harness


@pytest.fixture
async def h(anyio_backend: str) -> AsyncIterator[Harness]:
    harness = Harness()
    yield harness
    await harness.broker.aclose()
    await harness.tracker.aclose()
