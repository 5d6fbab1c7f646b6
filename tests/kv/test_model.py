"""A model test: any sequence of puts, deletes and clock moves lists like a sorted dict.

The model is a plain ``dict`` of key → expiration; ``list`` must page through the live keys
with the requested prefix in UTF-8 byte order, each page at most ``limit`` long, with a
cursor exactly while keys remain — whatever was written or expired between pages.
"""

from __future__ import annotations

import asyncio

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cfemu.clock import VirtualClock
from cfemu.kv import open_namespace

# A small alphabet makes shared prefixes (and the tricky UTF-8/UTF-16 orders) common.
KEYS = st.text(alphabet=["a", "b", "é", "\uff5e", "\U0001f600", "/"], min_size=1, max_size=4)
PREFIXES = st.text(alphabet=["a", "b", "é", "\U0001f600"], max_size=2)


def _utf8(key: str) -> bytes:
    return key.encode("utf-8")


class KvListModel(RuleBasedStateMachine):
    """Puts, deletes, time passing and paged listings, checked against a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = VirtualClock()
        self.kv = open_namespace(None, clock=self.clock)
        self.model: dict[str, int | None] = {}
        self.pager: tuple[str, int, str, list[str]] | None = None  # prefix, limit, cursor, seen

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def live(self, prefix: str = "") -> list[str]:
        now = self.clock.now()
        keys = [
            k
            for k, exp in self.model.items()
            if k.startswith(prefix) and (exp is None or exp > now)
        ]
        return sorted(keys, key=_utf8)

    @rule(key=KEYS, ttl=st.none() | st.integers(60, 600))
    def put(self, key: str, ttl: int | None) -> None:
        if ttl is None:
            self.run(self.kv.put(key, "v"))
            self.model[key] = None
        else:
            self.run(self.kv.put(key, "v", expirationTtl=ttl))
            self.model[key] = int(self.clock.now()) + ttl

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        self.run(self.kv.delete(key))
        self.model.pop(key, None)

    @rule(seconds=st.sampled_from([1, 30, 59, 60, 61, 300]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule(prefix=PREFIXES, limit=st.integers(1, 4))
    def list_all_pages(self, prefix: str, limit: int) -> None:
        seen: list[str] = []
        cursor = None
        for _ in range(1000):
            page = self.run(self.kv.list(prefix=prefix, limit=limit, cursor=cursor))
            names = [k["name"] for k in page["keys"]]
            assert len(names) <= limit
            seen += names
            if page["list_complete"]:
                assert "cursor" not in page
                break
            assert len(names) == limit
            cursor = page["cursor"]
        assert seen == self.live(prefix)

    @rule(prefix=PREFIXES, limit=st.integers(1, 3))
    def start_paging(self, prefix: str, limit: int) -> None:
        page = self.run(self.kv.list(prefix=prefix, limit=limit))
        names = [k["name"] for k in page["keys"]]
        assert names == self.live(prefix)[:limit]
        self.pager = None if page["list_complete"] else (prefix, limit, page["cursor"], names)

    @precondition(lambda self: self.pager is not None)
    @rule()
    def next_page(self) -> None:
        # Keys written or expired since the last page: the next page starts strictly after
        # the last key returned, among the keys live now.
        assert self.pager is not None
        prefix, limit, cursor, seen = self.pager
        page = self.run(self.kv.list(prefix=prefix, limit=limit, cursor=cursor))
        names = [k["name"] for k in page["keys"]]
        last = _utf8(seen[-1])
        assert names == [k for k in self.live(prefix) if _utf8(k) > last][:limit]
        self.pager = (
            None if page["list_complete"] else (prefix, limit, page["cursor"], seen + names)
        )

    @invariant()
    def gets_agree(self) -> None:
        for key in list(self.model)[:5]:
            expected = "v" if key in self.live() else None
            assert self.run(self.kv.get(key)) == expected

    def teardown(self) -> None:
        self.kv.store.close()
        self.loop.close()


KvListModel.TestCase.settings = settings(max_examples=100, stateful_step_count=30)
TestKvListModel = KvListModel.TestCase
