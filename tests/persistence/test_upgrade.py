"""Queue state format 1 (``v8`` bodies as pickles) is upgraded in place to format 2 (bodies as
data) when the emulator opens it, and no stored content is ever executed: not by the upgrade,
not by a delivery, not by ``cfemu queues inspect``.

``data/queues-v1.sqlite`` was written by cfemu at commit 65b2818 (format 1) with
``data/make_queues_v1.py``."""

from __future__ import annotations

import json
import logging
import pickle
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cfemu._tasks import TaskTracker
from cfemu.cli import main
from cfemu.clock import VirtualClock
from cfemu.queues import Broker, ConsumerSettings, MessageBatch, _v8
from cfemu.queues._v8 import MAGIC
from cfemu.queues.sqlite_store import SCHEMA_VERSION, SqliteStore
from tests.persistence.data.make_queues_v1 import START, V8_BODIES

FIXTURE = Path(__file__).parent / "data" / "queues-v1.sqlite"


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    """A copy of the format-1 file in a state folder of its own."""
    folder = tmp_path / "state"
    folder.mkdir()
    shutil.copy(FIXTURE, folder / "queues.sqlite")
    return folder / "queues.sqlite"


def table(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT seq, queue, content_type, payload, attempts, leased, due FROM messages "
            "ORDER BY seq"
        ).fetchall()


def version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


class _RunsCode:
    """Unpickling this runs ``exec``: what a crafted state file would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pickle ran code')",))


class OwnClass:
    """A sender's own class: old cfemu pickled such bodies; they cannot be converted."""

    def __init__(self, n: int) -> None:
        self.n = n


def set_payload(path: Path, seq: int, payload: bytes) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE messages SET payload = ?, size = ? WHERE seq = ?", (payload, 9, seq))


def test_the_fixture_is_format_1_with_pickled_v8_bodies() -> None:
    assert version(FIXTURE) == 1
    v8 = [row for row in table(FIXTURE) if row[2] == "v8"]
    assert v8 and all(bytes(row[3]).startswith(b"\x80") for row in v8)


@pytest.mark.anyio
async def test_a_format_1_file_is_upgraded_in_place_and_delivers_the_same_bodies(
    v1: Path,
) -> None:
    before = table(v1)
    clock = VirtualClock(START)
    broker = Broker(clock, TaskTracker(), store_path=v1)
    assert version(v1) == SCHEMA_VERSION == 2
    after = table(v1)
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        seq, queue, ctype, payload, attempts, leased, due = new
        assert (seq, queue, ctype, attempts, leased, due) == old[:3] + old[4:]
        if ctype == "v8":
            assert bytes(payload).startswith(MAGIC)
            # the fixture is ours, so the test may unpickle it to compare
            assert _v8.loads(bytes(payload)) == pickle.loads(old[3])
        else:
            assert payload == old[3]  # other content types are untouched
    with sqlite3.connect(v1) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            "2",
        )

    seen: list[tuple[str, Any, str]] = []

    async def handler(batch: MessageBatch) -> None:
        seen.extend((batch.queue, m.body, type(m.body).__name__) for m in batch.messages)

    settings = ConsumerSettings(max_batch_timeout=0, max_batch_size=100)
    for queue in ("jobs", "jobs-dlq", "flying"):
        broker.set_consumer(queue, settings, handler)
    await broker.tracker.wait_idle()
    clock.advance(3600)  # the delayed one comes due
    await broker.tracker.wait_idle()
    await broker.aclose()
    bodies = [body for queue, body, _ in seen if queue == "jobs"]
    assert bodies == [*V8_BODIES, {"json": 1}, "text body", b"raw", [1, 2]]
    assert [type(b) for b in bodies[: len(V8_BODIES)]] == [type(b) for b in V8_BODIES]
    assert ("jobs-dlq", {"dead": True}, "dict") in seen
    assert ("flying", {"in": "flight"}, "dict") in seen  # redelivered after the "crash"
    assert table(v1) == []


def test_the_upgrade_never_runs_stored_code_and_keeps_what_it_cannot_convert(
    v1: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "ran"
    evil = pickle.dumps(_RunsCode(marker), protocol=pickle.HIGHEST_PROTOCOL)
    own = pickle.dumps(OwnClass(1), protocol=pickle.HIGHEST_PROTOCOL)
    set_payload(v1, 0, evil)
    set_payload(v1, 4, own)
    with caplog.at_level(logging.WARNING, logger="cfemu.queues"):
        store = SqliteStore(v1, VirtualClock(START))
    store.close()
    assert not marker.exists()
    assert "2 v8 message(s) stored by an older cfemu" in caplog.text
    rows = {row[0]: row[3] for row in table(v1)}
    assert (rows[0], rows[4]) == (evil, own)  # left as they were, never unpickled
    assert rows[1].startswith(MAGIC)  # the others converted
    assert version(v1) == 2


@pytest.mark.anyio
async def test_a_body_left_unconverted_fails_its_deliveries_and_is_dead_lettered(
    v1: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    set_payload(v1, 0, pickle.dumps(_RunsCode(marker), protocol=pickle.HIGHEST_PROTOCOL))
    clock = VirtualClock(START)
    broker = Broker(clock, TaskTracker(), store_path=v1)
    seen: list[Any] = []

    async def handler(batch: MessageBatch) -> None:
        seen.extend(m.body for m in batch.messages)

    settings = ConsumerSettings(
        max_batch_timeout=0, max_batch_size=1, max_retries=1, dead_letter_queue="jobs-dlq"
    )
    broker.set_consumer("jobs", settings, handler)
    for _ in range(20):
        await broker.tracker.wait_idle()
        clock.fire_next()
    assert not marker.exists()
    assert seen == [*V8_BODIES[1:], {"json": 1}, "text body", b"raw", [1, 2]]
    assert broker.queues["jobs"].stats().dead_lettered == 1
    assert len(broker.queues["jobs-dlq"]) == 2  # its own message and the undecodable one
    await broker.aclose()


def run_inspect(capsys: pytest.CaptureFixture[str], folder: Path) -> tuple[int, Any, str]:
    code = main(
        ["queues", "inspect", "jobs", "--persist-to", str(folder), "--json", "--messages", "20"]
    )
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


def test_inspect_never_executes_a_crafted_pickle(
    v1: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    SqliteStore(v1, VirtualClock(START)).close()  # upgraded: format 2
    marker = tmp_path / "ran"
    set_payload(v1, 1, pickle.dumps(_RunsCode(marker), protocol=pickle.HIGHEST_PROTOCOL))
    set_payload(v1, 5, b"{not json")
    code, report, err = run_inspect(capsys, v1.parent)
    assert code == 0, err
    assert not marker.exists()
    bodies = [m["body"] for m in report["messages"]]
    assert bodies[1].startswith("<v8 body not decoded: a v8 body stored as a pickle")
    assert bodies[0] == repr(V8_BODIES[0])  # the data encoding is shown
    assert bodies[5].startswith("<json body not decoded")


def test_inspect_refuses_a_format_1_file_until_the_emulator_upgrades_it(
    v1: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    set_payload(v1, 0, pickle.dumps(_RunsCode(marker), protocol=pickle.HIGHEST_PROTOCOL))
    code, _, err = run_inspect(capsys, v1.parent)
    assert code == 1 and "older format 1" in err and "start the emulator once" in err
    assert version(v1) == 1 and not marker.exists()
