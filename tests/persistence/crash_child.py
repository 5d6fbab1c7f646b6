"""The crash test's child process: produce N messages and consume them, with persistence.

``python crash_child.py CONFIG STATE RECORDS N RUN [DIE_AFTER]`` appends one line per event
to RECORDS (unbuffered ``os.write`` on an ``O_APPEND`` file: what a ``SIGKILL`` cannot take
back): ``s RUN n`` once ``sendBatch`` returned for body ``n``, ``h RUN n id attempts index`` when
the ``jobs`` consumer starts on a message (``index`` in its batch), ``d RUN n id attempts
index`` for the ``jobs-dlq`` consumer. Each line is echoed to stdout for the parent to
count. With ``DIE_AFTER`` = K > 0 the process SIGKILLs itself right after the K-th start of
a consumer batch (the first message's line): the handler has started, nothing is acked.
Messages already recorded as sent by earlier runs are not sent again. Prints ``done`` and
exits once everything is final.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from cfemu import Emulator, RealClock

CHUNK = 4
FAIL_EVERY = 5  # body n fails when n % FAIL_EVERY == 0


def main() -> None:
    config, state, records, n_total, run = sys.argv[1:6]
    die_after = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    asyncio.run(
        produce_and_consume(Path(config), Path(state), Path(records), int(n_total), run, die_after)
    )


async def produce_and_consume(
    config: Path, state: Path, records: Path, n: int, run: str, die_after: int
) -> None:
    sent: set[int] = set()
    if records.exists():
        for line in records.read_text().splitlines():
            parts = line.split()
            if parts and parts[0] == "s":
                sent.add(int(parts[2]))
    fd = os.open(records, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    out = sys.stdout
    batches = 0

    def record(kind: str, *fields: object) -> None:
        nonlocal batches
        line = " ".join([kind, run, *map(str, fields)]) + "\n"
        os.write(fd, line.encode())
        out.write(line)
        out.flush()
        if kind != "s" and fields[-1] == 0:
            batches += 1
            if batches == die_after:
                os.kill(os.getpid(), signal.SIGKILL)

    clock = RealClock()

    async def work() -> None:
        await clock.sleep(0.0005)  # a little real work per message: kills land mid-batch

    emulator = Emulator.from_config(
        config, persist_to=state, clock=clock, extra_vars={"RECORD": record, "WORK": work}
    )
    async with emulator:
        todo = [i for i in range(n) if i not in sent]
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            await emulator.env.JOBS.sendBatch(
                [{"body": {"n": i, "fail": i % FAIL_EVERY == 0}} for i in chunk]
            )
            for i in chunk:
                record("s", i)
            await clock.sleep(0.001)
        broker = emulator.broker
        while emulator.tracker.tasks or not broker.is_settled():
            await clock.sleep(0.005)
    os.close(fd)
    out.write("done\n")
    out.flush()


if __name__ == "__main__":
    main()
