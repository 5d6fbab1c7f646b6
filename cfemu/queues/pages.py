"""Pages of a queue's messages for inspection, in O(offset + page), never O(queue).

The Local Explorer lists a queue of 100k messages a page at a time; reading a page must not
copy, sort or decode the whole queue. Ready messages live in a deque and in-flight ones in a
dict (both sliced in place); delayed ones live in a heap, whose first ``k`` messages in due
order come from a walk of the heap's top (:func:`heap_page`), not a sort of all of it.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from operator import attrgetter
from typing import Final

from cfemu.queues.store import DELAYED, DONE, IN_FLIGHT, READY, QueueStore, StoredMessage

__all__ = ["STATE_NAMES", "heap_page", "page_across"]

#: The inspection names of the states a message not yet done is in, in listing order.
STATE_NAMES: Final = {"in_flight": IN_FLIGHT, "ready": READY, "delayed": DELAYED}

_order = attrgetter("due", "key")


def heap_page(
    heap: Sequence[StoredMessage], start: int, limit: int, *, live: int | None = None
) -> list[StoredMessage]:
    """Messages ``start .. start + limit`` of ``heap`` (a binary min-heap of delayed
    messages) in due order: O(k log k) for ``k = start + limit`` when ``k`` is small beside
    the heap; one sort when it is not (deep pages cost about what sorting costs). Messages
    taken out of the heap lazily (state DONE; ``live`` counts the others) are skipped."""
    size = len(heap)
    lazy = live is not None and live != size
    end = min(start + limit, size if live is None else live)
    if start >= end:
        return []
    if end * 8 > size:
        ordered = sorted(heap, key=_order)
        if lazy:
            ordered = [m for m in ordered if m.state != DONE]
        return ordered[start:end]
    out: list[StoredMessage] = []
    top = heap[0]
    frontier: list[tuple[float, int, int]] = [(top.due, top.key, 0)]
    push, pop = heapq.heappush, heapq.heappop
    while frontier and len(out) < end:
        _, _, at = pop(frontier)
        found = heap[at]
        if not lazy or found.state != DONE:
            out.append(found)
        for child in (2 * at + 1, 2 * at + 2):
            if child < size:
                msg = heap[child]
                push(frontier, (msg.due, msg.key, child))
    return out[start:]


def page_across(
    store: QueueStore, states: Sequence[int], offset: int, limit: int
) -> list[StoredMessage]:
    """Up to ``limit`` messages after the first ``offset`` of ``states`` listed one after
    the other (each in its own order: :meth:`QueueStore.page`); counts come from the
    store's gauges, so states wholly before ``offset`` are skipped without reading them."""
    counts = {
        IN_FLIGHT: store.in_flight_count,
        READY: store.ready_count,
        DELAYED: store.delayed_count,
    }
    out: list[StoredMessage] = []
    for state in states:
        if len(out) >= limit:
            break
        count = counts[state]
        if offset >= count:
            offset -= count
            continue
        out.extend(store.page(state, offset, limit - len(out)))
        offset = 0
    return out
