"""Workflows under SIGKILL: a real process running instances with a state folder is killed
mid-run (inside a step, by itself; or anywhere, by this process), restarted until every
instance finished, then checked.

Checked: a step whose result was recorded when the process died is never started again
(its result, in the instance's output, comes from the run that recorded it); a step that
was in progress when the process died runs again, from its first attempt, in the next run;
every instance completes with every step's result.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CHILD = HERE / "crash_child.py"
INSTANCES = 3
STEPS = 12  # crash_project/worker.py
KILLS = 5
SEED = int(os.environ.get("CFEMU_WF_CRASH_SEED", "20261202"))  # override to explore
RUN_TIMEOUT = 20.0  # seconds of real time per run (bounded waits only)


class Child:
    """One run of the child process, its stdout read line by line under a deadline."""

    def __init__(self, state: Path, records: Path, run: int, die_after: int) -> None:
        argv = [str(CHILD), str(state), str(records), str(run), str(INSTANCES), str(die_after)]
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            cwd=HERE.parent.parent,
        )
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        self.buffer = b""
        self.deadline = time.monotonic() + RUN_TIMEOUT

    def lines(self) -> list[str]:
        """The next complete lines (waits for some; [] at the end of the output)."""
        while b"\n" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.proc.kill()
                self.proc.wait(timeout=RUN_TIMEOUT)
                raise AssertionError(f"child run timed out; stderr:\n{self.stderr()}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                rest, self.buffer = self.buffer, b""
                return [rest.decode()] if rest else []
            self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\n")
        return [line.decode() for line in complete]

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-4000:]


def recorded_steps(state: Path) -> set[tuple[str, int]]:
    """``(instance, step index)`` of every ``step.do`` result on disk (after a kill)."""
    with sqlite3.connect(state / "workflows.sqlite") as conn:
        rows = conn.execute("SELECT instance, key FROM steps WHERE key LIKE 'do:s%'").fetchall()
    return {(instance, int(key[len("do:s") :].rsplit("-", 1)[0])) for instance, key in rows}


@pytest.mark.slow
def test_sigkill_never_reruns_a_recorded_step_and_reruns_the_one_in_progress(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    state = tmp_path / "state"
    records = tmp_path / "records.txt"
    on_disk: dict[int, set[tuple[str, int]]] = {}  # run -> recorded steps after its kill
    in_progress: dict[int, tuple[str, int]] = {}  # run -> the step it killed itself in
    run = 0
    while True:
        # even runs kill themselves right after the k-th step start (inside that step);
        # odd runs are killed by this process after a random number of lines, wherever the
        # child is; the run after the last kill is left to finish
        by_itself = run % 2 == 0
        kill_after = (rng.randint(1, 8) if by_itself else rng.randint(2, 16)) if run < KILLS else 0
        child = Child(state, records, run, die_after=kill_after if by_itself else 0)
        seen: list[str] = []
        finished = False
        while True:
            lines = child.lines()
            if not lines:
                break
            if "done" in lines:
                finished = True
                break
            seen += lines
            if kill_after and not by_itself and len(seen) >= kill_after:
                child.proc.send_signal(signal.SIGKILL)
                break
        code = child.proc.wait(timeout=RUN_TIMEOUT)
        if finished:
            assert code == 0, f"child failed ({code}):\n{child.stderr()}"
            break
        assert code == -signal.SIGKILL, f"child failed ({code}):\n{child.stderr()}"
        on_disk[run] = recorded_steps(state)
        if by_itself:
            kind, _, instance, i, _ = seen[-1].split()
            assert kind == "start"
            in_progress[run] = (instance, int(i))
        run += 1
        assert run <= KILLS, "the instances did not finish after the kills"
    assert len(on_disk) >= 3  # a late run may finish its (smaller) share before its kill point

    starts: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)  # -> (run, attempt)
    ends: dict[tuple[str, int], set[int]] = defaultdict(set)  # -> runs
    for line in records.read_text().splitlines():
        kind, run_s, instance, i, attempt = line.split()
        if kind == "start":
            starts[instance, int(i)].append((int(run_s), int(attempt)))
        else:
            ends[instance, int(i)].add(int(run_s))

    with sqlite3.connect(state / "workflows.sqlite") as conn:
        rows = conn.execute("SELECT id, status, output FROM instances ORDER BY id").fetchall()
    assert [(id_, status) for id_, status, _ in rows] == [
        (f"w{n}", "complete") for n in range(INSTANCES)
    ]
    for instance, _, output in rows:
        results = json.loads(output)
        assert [r["i"] for r in results] == list(range(STEPS))
        for r in results:
            key = (instance, r["i"])
            # the recorded result came from a run in which that step ended ...
            assert r["run"] in ends[key], (key, r, sorted(ends[key]))
            # ... and no later run started the step again
            assert max(run_ for run_, _ in starts[key]) == r["run"], (key, starts[key])

    # a step recorded on disk when a run died is never started by a later run
    for died, recorded in on_disk.items():
        for key in recorded:
            assert all(run_ <= died for run_, _ in starts[key]), (key, died, starts[key])

    # the step a run died in was not recorded, and the next run ran it from attempt 1
    assert in_progress, "no run killed itself inside a step"
    for died, key in in_progress.items():
        assert key not in on_disk[died]
        assert (died + 1, 1) in starts[key], (key, died, starts[key])
