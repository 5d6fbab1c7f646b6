"""A real full disk: queue state on a 2 MiB tmpfs, filled to the last page while producing and
consuming. Needs root (mount); skipped, saying why, where mounting is not permitted."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cfemu.compat import resolve
from cfemu.errors import QueueSendError
from cfemu.queues import MessageBatch
from cfemu.queues.sqlite_store import SqliteStore
from tests.persistence.test_disk_full import persisted_harness, sqlite_store

PAD = "x" * 20_000


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A fresh 2 MiB tmpfs, unmounted afterwards."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mount(8)/umount(8) are not installed")
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10, check=False)


def fill(folder: Path) -> Path:
    """Write a file until the file system has no page left; returns it."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for chunk in (65536, 4096, 512):
            while True:
                try:
                    out.write(b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    return filler


@pytest.mark.anyio
async def test_a_full_tmpfs_loses_and_duplicates_nothing(small_fs: Path) -> None:
    path = small_fs / "queues.sqlite"
    h = persisted_harness(path)
    producer = h.broker.producer("jobs", compat=resolve("2026-03-11"))  # errors without codes
    accepted: list[int] = []
    for n in range(20):  # ~400 kB, on disk when send returns
        await producer.send({"n": n, "pad": PAD})
        accepted.append(n)
    filler = fill(small_fs)
    refused: list[int] = []
    for n in range(20, 70):
        try:
            await producer.send({"n": n, "pad": PAD})
        except QueueSendError as exc:
            assert str(exc) == "Queue send failed: Internal Server Error"
            refused.append(n)
            if len(refused) >= 3:
                break
        else:
            accepted.append(n)  # a page freed by SQLite itself may still take one
    assert len(refused) == 3, "the full file system never refused a send"
    assert len(h.broker.queues["jobs"]) == len(accepted)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == len(accepted)

    seen: dict[int, list[int]] = {}

    async def handler(batch: MessageBatch) -> None:
        for msg in batch.messages:
            seen.setdefault(msg.body["n"], []).append(msg.attempts)

    h.consume("jobs", handler, max_batch_timeout=0, max_batch_size=10, max_retries=1)
    for _ in range(6):  # the disk is still full: leases (or acks) fail and are retried
        await h.run_tasks()
        h.clock.fire_next()
    filler.unlink()  # room again
    await h.drain()
    assert sorted(seen) == accepted, "accepted messages lost, or refused ones delivered"
    assert all(attempts == [1] for attempts in seen.values()), seen
    stats = h.broker.queues["jobs"].stats()
    assert (stats.acked, stats.dropped, stats.backlog) == (len(accepted), 0, 0)
    await h.broker.aclose()
    again = SqliteStore(path, h.clock)
    assert again.open_queue("jobs").ready_count == 0
    again.close()
    assert sqlite_store(h).failed_commits >= 3
