"""Paged peeking: a page of a queue's messages is exactly that slice of the whole listing,
in memory and in the persisted store, whatever the mix of ready, delayed and in-flight."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.queues import Broker
from cfemu.queues.pages import STATE_NAMES, heap_page, page_across
from cfemu.queues.store import DELAYED, IN_FLIGHT, READY, MemoryQueueStore, StoredMessage

NOW = 1000.0


def filled(dues: list[float], leased: int) -> MemoryQueueStore:
    """A store holding a message per due time (ready when due <= NOW), ``leased`` of the
    ready ones in flight."""
    store = MemoryQueueStore("q")
    for i, due in enumerate(dues):
        store.enqueue([StoredMessage(f"m{i}", NOW - 1, "text", f"body {i}", due)], NOW)
    store.lease(leased)
    return store


def listing(store: MemoryQueueStore, state: int) -> list[StoredMessage]:
    return list(
        {READY: store.iter_ready, DELAYED: store.iter_delayed, IN_FLIGHT: store.iter_in_flight}[
            state
        ]()
    )


dues = st.lists(st.one_of(st.just(NOW), st.floats(NOW + 1, NOW + 50).map(round)), max_size=120)
states = st.lists(st.sampled_from(list(STATE_NAMES.values())), min_size=1, max_size=3, unique=True)


@settings(max_examples=150, deadline=None)
@given(dues, st.integers(0, 30), st.integers(0, 130), st.integers(1, 40))
def test_a_page_of_one_state_is_that_slice_of_its_listing(
    dues: list[float], leased: int, start: int, limit: int
) -> None:
    store = filled(dues, leased)
    for state in (READY, DELAYED, IN_FLIGHT):
        assert store.page(state, start, limit) == listing(store, state)[start : start + limit]


@settings(max_examples=150, deadline=None)
@given(dues, st.integers(0, 30), states, st.integers(0, 130), st.integers(1, 40))
def test_a_page_across_states_is_that_slice_of_their_concatenation(
    dues: list[float], leased: int, chosen: list[int], offset: int, limit: int
) -> None:
    store = filled(dues, leased)
    whole = [m for state in chosen for m in listing(store, state)]
    assert page_across(store, chosen, offset, limit) == whole[offset : offset + limit]


def test_the_heap_walk_and_the_sort_agree_on_ties_and_deep_pages() -> None:
    # Equal due times keep send order; a small page walks the heap, a deep one sorts it.
    store = filled([NOW + 5] * 50 + [NOW + 3] * 50 + [NOW + 9] * 100, 0)
    ordered = listing(store, DELAYED)
    assert [m.id for m in ordered[:3]] == ["m50", "m51", "m52"]
    heap = store._delayed
    assert heap_page(heap, 0, 10) == ordered[:10]  # walk: 10 * 8 <= 200
    assert heap_page(heap, 20, 5) == ordered[20:25]
    assert heap_page(heap, 150, 60) == ordered[150:]  # sort
    assert heap_page(heap, 200, 5) == []


@pytest.mark.anyio
async def test_queue_view_peek_pages_in_memory_and_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "queues.sqlite"
    clock = VirtualClock()
    broker = Broker(clock, TaskTracker(), store_path=path)
    producer = broker.producer("q")
    await producer.sendBatch([{"body": i} for i in range(30)])
    await producer.sendBatch([{"body": 100 + i, "delaySeconds": 60 - i} for i in range(20)])
    view = broker.queues["q"]
    expected = view.messages()
    pages = [view.peek(offset=o, limit=7) for o in range(0, 56, 7)]
    assert [m for page in pages for m in page] == expected
    assert [m.body for m in view.peek(["delayed"], limit=3)] == [119, 118, 117]
    await broker.aclose()

    again = Broker(clock, TaskTracker(), store_path=path)
    view = again.queues.get("q") or again.declare_queue("q")
    assert view.peek(offset=28, limit=4) == view.messages()[28:32]
    assert [m.state for m in view.peek(offset=28, limit=4)] == ["ready"] * 2 + ["delayed"] * 2
    await again.aclose()
