"""The queues' hypothesis stateful model test at 500 examples, timed (on demand).

Run: ``python benchmarks/bench_model_test.py [--examples N]``. Not collected by pytest.

``tests/queues/test_model.py`` drives the broker with random sends, delays, acks, retries,
handler failures and clock moves, and checks it against a model after every step. Under the
virtual clock nothing sleeps, so 500 examples should take well under 60 s on a 2-core CI
machine. This prints the wall time; it asserts nothing about it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_TEST = ROOT / "tests" / "queues" / "test_model.py"
TARGET_SECONDS = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    args = parser.parse_args()
    env = {**os.environ, "CFEMU_MODEL_EXAMPLES": str(args.examples)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        str(MODEL_TEST),
    ]
    start = time.perf_counter()
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    summary = (run.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"queue model test, {args.examples} examples: {summary}")
    print(
        f"wall time: {elapsed:.1f} s (target < {TARGET_SECONDS:.0f} s on 2 cores; CPUs here: "
        f"{os.cpu_count()})"
    )
    verdict = "within" if elapsed < TARGET_SECONDS else "OVER"
    print(f"{verdict} target")
    if run.returncode != 0:
        print(run.stdout[-4000:], run.stderr[-4000:], sep="\n")
    return run.returncode


if __name__ == "__main__":
    raise SystemExit(main())
