"""The Workflows crash test's child process: run instances of ``crash_project`` to the end.

``python crash_child.py STATE RECORDS RUN INSTANCES [DIE_AFTER]`` creates the instances
``w0``..``w<INSTANCES-1>`` that do not exist yet and runs the emulator (real clock, state in
STATE) until every instance is finished. Each step's ``env.RECORD(kind, instance, i,
attempt)`` appends ``<kind> RUN instance i attempt`` to RECORDS (``os.write`` on an
``O_APPEND`` file: what a ``SIGKILL`` cannot take back) and echoes it to stdout. With
``DIE_AFTER`` = K > 0 the process SIGKILLs itself right after the K-th ``start`` line: that
step is in progress, its result not recorded. Prints ``done`` once every instance finished.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from cfemu import Emulator, RealClock
from cfemu.workflows import WorkflowError

CONFIG = Path(__file__).parent / "crash_project" / "wrangler.toml"


async def main(state: Path, records: Path, run: int, instances: int, die_after: int) -> None:
    fd = os.open(records, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    starts = 0

    def record(kind: str, instance: str, i: int, attempt: int) -> None:
        nonlocal starts
        line = f"{kind} {run} {instance} {i} {attempt}\n"
        os.write(fd, line.encode())
        sys.stdout.write(line)
        sys.stdout.flush()
        if kind == "start":
            starts += 1
            if starts == die_after:
                os.kill(os.getpid(), signal.SIGKILL)

    clock = RealClock()

    async def work() -> None:
        await clock.sleep(0.002)  # a little real work: the parent's kills land mid-step

    emulator = Emulator.from_config(
        CONFIG,
        persist_to=state,
        clock=clock,
        extra_vars={"RECORD": record, "WORK": work, "RUN": run},
    )
    async with emulator:
        chain = emulator.env.CHAIN
        handles = []
        for n in range(instances):
            try:
                handles.append(await chain.get(f"w{n}"))
            except WorkflowError:
                handles.append(await chain.create(id=f"w{n}"))
        while True:
            statuses = [(await h.status())["status"] for h in handles]
            if all(s in ("complete", "errored", "terminated") for s in statuses):
                break
            await clock.sleep(0.005)
    os.close(fd)
    sys.stdout.write("done\n")
    sys.stdout.flush()


if __name__ == "__main__":
    state, records, run, instances = sys.argv[1:5]
    die_after = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    asyncio.run(main(Path(state), Path(records), int(run), int(instances), die_after))
