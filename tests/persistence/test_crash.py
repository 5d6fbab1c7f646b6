"""THE crash test: a real process producing and consuming with persistence, SIGKILLed at
random points (seeded), restarted until every message is final, then checked.

Checked: every message whose send returned is handled (good ones acked, failing ones in the
dead-letter queue, recorded by its consumer); a message whose ack was committed is never
delivered again; each delivery of a message sees a higher ``attempts`` than the previous
one (the attempt is durable before the handler runs). Duplicates are reported, not failed.
"""

from __future__ import annotations

import itertools
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
CONFIG = HERE / "crash_project" / "wrangler.toml"
N = 120
KILLS = 5  # below max_retries + 1 (6): crashes alone never dead-letter a good message
SEED = int(os.environ.get("CFEMU_CRASH_SEED", "20260108"))  # override to explore
FAIL_EVERY = 5
RUN_TIMEOUT = 8.0  # seconds of real time per run (bounded waits only)


class Child:
    """One run of the child process, with its stdout read line by line under a deadline."""

    def __init__(self, state: Path, records: Path, run: int, die_after: int = 0) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        argv = [str(CHILD), str(CONFIG), str(state), str(records), str(N), str(run), str(die_after)]
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=HERE.parent.parent,
        )
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        self.buffer = b""
        self.deadline = time.monotonic() + RUN_TIMEOUT

    def lines(self) -> list[str]:
        """The next complete lines (waits for some; [] at end of output)."""
        while b"\n" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.kill()
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

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=RUN_TIMEOUT)

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-4000:]


def snapshot(state: Path) -> dict[str, set[str]]:
    """Message ids per queue on disk right after a kill (what the next run recovers)."""
    out: dict[str, set[str]] = defaultdict(set)
    with sqlite3.connect(state / "queues.sqlite") as conn:
        for queue, id_ in conn.execute("SELECT queue, id FROM messages"):
            out[queue].add(id_)
    return out


@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing_and_redelivers_only_uncommitted_work(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    rng = random.Random(SEED)
    state = tmp_path / "state"
    records = tmp_path / "records.txt"
    snapshots: dict[int, dict[str, set[str]]] = {}
    kills = 0
    run = 0
    finished = False
    while not finished:
        # SIGKILL after a random number of events, sent by this process (it lands wherever
        # the child happens to be), or by the child itself right after the k-th start of a
        # consumer batch (exactly between a lease and its ack). The last run is left alone.
        kill_after = rng.randint(3, 60) if kills < KILLS else 0
        by_itself = kill_after > 0 and rng.random() < 0.5
        die_after = rng.randint(1, 8) if by_itself else 0
        child = Child(state, records, run, die_after=die_after)
        seen = 0
        while True:
            lines = child.lines()
            if not lines:
                break  # exited
            if "done" in lines:
                finished = True
                break
            seen += len(lines)
            if kill_after and not by_itself and seen >= kill_after:
                child.kill()
                break
        code = child.proc.wait(timeout=RUN_TIMEOUT)
        if finished:
            assert code == 0, f"child failed ({code}):\n{child.stderr()}"
        else:
            assert code == -signal.SIGKILL, f"child failed ({code}):\n{child.stderr()}"
            kills += 1
            snapshots[run] = snapshot(state)
        run += 1
        assert run <= KILLS + 1 or finished, "the work did not finish after the kills"

    # --- the records ---------------------------------------------------------------------
    sends: dict[int, int] = defaultdict(int)  # n -> times a send of it returned
    handled: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # id -> (run, n, attempts)
    dead: dict[str, list[tuple[int, int]]] = defaultdict(list)  # id -> (run, n)
    body_of: dict[str, int] = {}
    for line in records.read_text().splitlines():
        kind, run_s, *rest = line.split()
        if kind == "s":
            sends[int(rest[0])] += 1
        elif kind == "h":
            n, id_, attempts = int(rest[0]), rest[1], int(rest[2])  # rest[3]: index in batch
            handled[id_].append((int(run_s), n, attempts))
            body_of[id_] = n
        else:
            n, id_ = int(rest[0]), rest[1]
            dead[id_].append((int(run_s), n))
            body_of[id_] = n

    # every message whose send returned is finally handled: good ones acked, failing ones
    # recorded by the dead-letter consumer
    assert set(sends) == set(range(N))
    finished_good = {n for id_, n in body_of.items() if n % FAIL_EVERY and id_ not in dead}
    finished_dead = {n for id_, runs in dead.items() for _, n in runs}
    assert finished_good == {n for n in range(N) if n % FAIL_EVERY}
    assert finished_dead == {n for n in range(N) if n % FAIL_EVERY == 0}
    assert all(body_of[id_] % FAIL_EVERY == 0 for id_ in dead)  # no good message dead-lettered
    with sqlite3.connect(state / "queues.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)

    # attempts count every delivery started: strictly increasing per message, within limits
    for id_, deliveries in handled.items():
        attempts = [a for _, _, a in deliveries]
        assert attempts == sorted(set(attempts)), (id_, deliveries)
        assert attempts[-1] <= 6
        if body_of[id_] % FAIL_EVERY == 0:
            assert dead[id_], f"failing message {id_} never reached the DLQ consumer"

    # once an ack (or dead-letter move) was committed, the message is never delivered again:
    # a delivery in run r+1 of a message seen before must come from the state run r left
    for id_, deliveries in handled.items():
        for (prev_run, _, _), (run_, _, _) in itertools.pairwise(deliveries):
            if run_ != prev_run:
                assert id_ in snapshots[run_ - 1]["jobs"], (id_, deliveries)
    for id_, runs in dead.items():
        for (prev_run, _), (run_, _) in itertools.pairwise(runs):
            if run_ != prev_run:
                assert id_ in snapshots[run_ - 1]["jobs-dlq"], (id_, runs)

    redelivered_good = sum(len(d) - 1 for id_, d in handled.items() if body_of[id_] % FAIL_EVERY)
    redelivered_dead = sum(len(r) - 1 for r in dead.values())
    resent = sum(count - 1 for count in sends.values())
    summary = (
        f"crash test: {N} messages, {kills} SIGKILLs over {run} runs; duplicates: "
        f"{redelivered_good} extra deliveries of messages that succeeded, "
        f"{redelivered_dead} of dead letters, {resent} producer re-sends (killed between a "
        f"send and its record)"
    )
    print(summary)
    record_property("crash_kills", kills)
    record_property("crash_duplicate_deliveries", redelivered_good + redelivered_dead)
    record_property("crash_producer_resends", resent)
    assert kills >= 3  # later runs may finish their (smaller) share before the kill point
