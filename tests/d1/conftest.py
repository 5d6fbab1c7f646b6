"""Fixtures of the D1 tests: a fresh in-memory database on a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cfemu.clock import VirtualClock
from cfemu.d1 import D1Database, open_database


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def db(clock: VirtualClock) -> Iterator[D1Database]:
    database = open_database(None, clock=clock)
    yield database
    database.close()
