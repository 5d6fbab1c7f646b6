"""The virtual clock: timers fire in time order, only when time is moved."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfemu.clock import VirtualClock

pytestmark = pytest.mark.anyio


def test_virtual_clock_does_not_move_by_itself() -> None:
    clock = VirtualClock(start=100.0)
    assert clock.now() == 100.0
    assert clock.now() == 100.0
    assert clock.utcnow() == datetime.fromtimestamp(100.0, UTC)


def test_timers_fire_in_time_order_and_see_their_due_time() -> None:
    clock = VirtualClock(start=0.0)
    seen: list[tuple[str, float]] = []
    clock.call_at(5.0, lambda: seen.append(("b", clock.now())))
    clock.call_at(1.0, lambda: seen.append(("a", clock.now())))
    clock.call_at(9.0, lambda: seen.append(("c", clock.now())))
    assert clock.advance(6.0) == 2
    assert seen == [("a", 1.0), ("b", 5.0)]
    assert clock.now() == 6.0
    assert clock.next_deadline() == 9.0


def test_cancelled_timer_never_fires() -> None:
    clock = VirtualClock(start=0.0)
    fired: list[int] = []
    handle = clock.call_later(1.0, lambda: fired.append(1))
    handle.cancel()
    handle.cancel()
    assert clock.pending_timers == 0
    assert clock.advance(10) == 0
    assert fired == []
    assert clock.next_deadline() is None


def test_clock_refuses_to_go_backwards() -> None:
    with pytest.raises(ValueError, match="backwards"):
        VirtualClock().advance(-1)


async def test_sleep_waits_for_virtual_time_not_real_time() -> None:
    clock = VirtualClock(start=0.0)
    done = asyncio.Event()

    async def sleeper() -> None:
        await clock.sleep(3600)
        done.set()

    task = asyncio.create_task(sleeper())
    await asyncio.sleep(0)
    assert clock.sleepers == 1 and not done.is_set()
    clock.advance(3599)
    await asyncio.sleep(0)
    assert not done.is_set()
    clock.advance(1)
    await task
    assert done.is_set() and clock.sleepers == 0


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=30))
def test_any_set_of_timers_fires_sorted_by_due_time(delays: list[float]) -> None:
    clock = VirtualClock(start=0.0)
    fired: list[float] = []
    for d in delays:
        clock.call_later(d, lambda d=d: fired.append(d))
    while clock.fire_next():
        pass
    assert fired == sorted(delays)
    assert clock.pending_timers == 0
