"""``cfemu queues list | inspect | purge`` on persisted state."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.cli import main
from cfemu.clock import RealClock
from cfemu.state import StateLock

pytestmark = pytest.mark.anyio


async def _fill(config: Path, state: Path) -> None:
    """jobs: 1 ready (consumed queue but no delivery yet), 1 delayed; jobs-dlq: 1 dead letter."""
    now = RealClock().now()  # the CLI tells ready from delayed by the real clock
    async with Emulator.from_config(
        config, persist_to=state, clock=VirtualClock(now), extra_vars={"RECORD": [], "BLOCK": None}
    ) as emu:
        await emu.env.JOBS.send({"n": 9, "mode": "fail"})
        await emu.drain()  # 3 failed attempts -> jobs-dlq
        await emu.env.JOBS.send({"n": 1, "mode": "block"}, delaySeconds=3600)
        emu.broker.declare_queue("other")
        await emu.broker.producer("other").send("text body", contentType="text")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_list_shows_every_queue_with_its_counts(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    await _fill(project, state)
    code, out, _ = run(capsys, "queues", "list", "-c", str(project), "--persist-to", str(state))
    assert code == 0
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert set(lines) == {"Queue", "jobs", "jobs-dlq", "other"}
    code, out, _ = run(
        capsys, "queues", "list", "-c", str(project), "--persist-to", str(state), "--json"
    )
    data = json.loads(out)
    by_name = {q["queue"]: q for q in data["queues"]}
    assert (by_name["jobs"]["ready"], by_name["jobs"]["delayed"]) == (0, 1)
    assert by_name["jobs-dlq"]["backlog"] == 1
    assert by_name["other"]["ready"] == 1
    assert data["state"] == str(state / "queues.sqlite")


async def test_inspect_reports_depth_delayed_in_flight_dlq_and_oldest_message(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    await _fill(project, state)
    args = ["queues", "inspect", "jobs", "-c", str(project), "--persist-to", str(state)]
    code, out, _ = run(capsys, *args, "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["ready"], report["delayed"], report["in_flight"]) == (0, 1, 0)
    assert report["dead_letter_queue"] == {"queue": "jobs-dlq", "backlog": 1}
    oldest = report["oldest_message"]
    assert oldest["body"] == {"n": 1, "mode": "block"}
    assert oldest["state"] == "delayed" and oldest["attempts"] == 0
    assert len(oldest["id"]) == 32
    code, out, _ = run(capsys, *args)
    assert "dead letters:   1 in jobs-dlq" in out
    assert f"oldest message: {oldest['id']}" in out
    code, out, _ = run(
        capsys, "queues", "inspect", "other", "--persist-to", str(state), "--messages", "5"
    )
    assert code == 0 and '"text body"' in out


async def test_inspect_of_an_unknown_queue_names_the_known_ones(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    await _fill(project, state)
    code, _, err = run(
        capsys, "queues", "inspect", "nope", "-c", str(project), "--persist-to", str(state)
    )
    assert code == 1
    assert "no queue 'nope'" in err and "jobs, jobs-dlq, other" in err


async def test_purge_asks_and_only_yes_deletes(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = tmp_path / "state"
    await _fill(project, state)
    args = ["queues", "purge", "jobs-dlq", "-c", str(project), "--persist-to", str(state)]
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, _ = run(capsys, *args)
    assert code == 1 and "Delete 1 message of queue jobs-dlq" in out and "Not purged" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, out, _ = run(capsys, *args)
    assert code == 0 and "Purged 1 message from queue jobs-dlq" in out
    code, out, _ = run(capsys, *args, "--yes")
    assert code == 0 and "has no messages" in out
    with sqlite3.connect(state / "queues.sqlite") as conn:
        queues = sorted(q for (q,) in conn.execute("SELECT queue FROM messages"))
    assert queues == ["jobs", "other"]  # the other queues are untouched


async def test_purge_with_yes_does_not_ask(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    await _fill(project, state)
    code, out, _ = run(capsys, "queues", "purge", "jobs", "--persist-to", str(state), "-y")
    assert code == 0 and "Purged 1 message from queue jobs" in out


async def test_purge_refuses_while_a_running_emulator_holds_the_folder(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    await _fill(project, state)
    lock = StateLock.acquire(state)  # what a running `cfemu dev` holds
    try:
        code, _, err = run(capsys, "queues", "purge", "jobs", "--persist-to", str(state), "-y")
        assert code == 1
        assert "cannot purge queue 'jobs'" in err and "in use by another cfemu process" in err
        # reading is fine while it runs
        code, out, _ = run(capsys, "queues", "list", "--persist-to", str(state), "--json")
        assert code == 0 and json.loads(out)["queues"]
    finally:
        lock.release()
    with sqlite3.connect(state / "queues.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (3,)


def test_without_state_list_says_so_and_purge_refuses(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "nothing"
    code, out, _ = run(capsys, "queues", "list", "-c", str(project), "--persist-to", str(state))
    assert code == 0 and "No queue state in" in out and "jobs-dlq" in out
    args = ("-c", str(project), "--persist-to", str(state), "--yes")
    code, out, _ = run(capsys, "queues", "purge", "jobs", *args)
    assert code == 0 and out == "Queue jobs has no messages.\n"
    code, _, err = run(capsys, "queues", "purge", "nope", *args)
    assert code == 1 and err.startswith('✘ [ERROR] Queue "nope" does not exist; queues: ')
    assert not state.exists()  # reading never creates state


def test_state_in_a_newer_format_is_refused_by_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cfemu.queues.sqlite_store import APPLICATION_ID

    with sqlite3.connect(tmp_path / "queues.sqlite") as conn:
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute("PRAGMA user_version=99")
    code, _, err = run(capsys, "queues", "list", "--persist-to", str(tmp_path))
    assert code == 1 and "format 99" in err and "Upgrade cfemu" in err


def test_the_group_lists_its_commands_with_one_line_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "queues")
    assert code == 0
    helps = {line.split()[0]: line for line in out.splitlines() if line.startswith("    ")}
    wrangler = {"list", "info", "purge", "pause-delivery", "resume-delivery", "consumer"}
    assert wrangler | {"peek", "redrive"} <= set(helps)
    assert "inspect" not in helps  # a hidden alias of info, kept for old scripts
