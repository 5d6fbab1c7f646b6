"""Fixtures of the KV tests: a fresh in-memory namespace on a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cfemu._faults import Faults
from cfemu.clock import VirtualClock
from cfemu.kv import KvNamespace, open_namespace


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def kv(clock: VirtualClock, faults: Faults) -> Iterator[KvNamespace]:
    namespace = open_namespace(None, clock=clock, binding="KV", faults=faults)
    yield namespace
    namespace.store.close()
