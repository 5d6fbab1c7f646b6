"""Persisted namespaces: the file layout, restarts, and puts that survive SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cfemu.clock import VirtualClock
from cfemu.errors import StateError
from cfemu.kv import KvStore, namespace_file, open_namespace

pytestmark = pytest.mark.anyio


def test_namespace_file_is_under_kv_and_sanitizes_odd_ids(tmp_path: Path) -> None:
    assert namespace_file(tmp_path, "abc123") == tmp_path / "kv" / "abc123.sqlite"
    odd = namespace_file(tmp_path, "<YOUR_KV_NAMESPACE_ID>")
    assert odd.parent == tmp_path / "kv"
    assert odd.name.startswith("YOUR_KV_NAMESPACE_ID-")
    assert namespace_file(tmp_path, "../x") != namespace_file(tmp_path, "_x")
    assert namespace_file(tmp_path, "../x").parent == tmp_path / "kv"


async def test_pairs_expirations_and_metadata_survive_a_restart(tmp_path: Path) -> None:
    clock = VirtualClock()
    path = namespace_file(tmp_path, "ns")
    kv = open_namespace(path, clock=clock)
    await kv.put("keep", "1", metadata={"m": 1})
    await kv.put("short", "2", expirationTtl=60)
    kv.store.close()
    again = open_namespace(path, clock=clock)
    assert (await again.getWithMetadata("keep")).metadata == {"m": 1}
    assert await again.get("short") == "2"
    clock.advance(60)
    assert await again.get("short") is None
    again.store.close()


def test_a_file_that_is_not_kv_state_is_refused(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(StateError, match="not a cfemu KV state file"):
        KvStore(other)


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from cfemu.clock import RealClock
    from cfemu.kv import open_namespace

    async def main():
        kv = open_namespace(sys.argv[1], clock=RealClock())
        i = 0
        while True:
            await kv.put(f"key-{i:06d}", "x" * 100)
            print(i, flush=True)
            i += 1

    asyncio.run(main())
    """
)


async def test_every_put_that_returned_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "kv" / "ns.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    acknowledged = -1
    try:
        for line in child.stdout:  # bounded: the child is killed after 300 puts returned
            acknowledged = int(line)
            if acknowledged >= 300:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert acknowledged >= 300
    kv = open_namespace(path, clock=VirtualClock())
    for i in range(acknowledged + 1):
        assert await kv.get(f"key-{i:06d}") == "x" * 100, f"put {i} was lost"
    kv.store.close()
