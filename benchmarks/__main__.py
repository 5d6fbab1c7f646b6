"""Run every benchmark of the project and print one summary table (on demand).

Run: ``python -m benchmarks [--full] [--only NAME ...] [--json PATH]`` from the repository
root. Not collected by pytest. Each ``benchmarks/bench_*.py`` runs as its own process (with
small sizes unless ``--full``: then each benchmark's own defaults), one after another; its
output is kept whole in the JSON file and summarised in the table:

* ``figure``: the first line of the output with a measured number;
* ``ratio``: cfemu against the baseline the benchmark measured in the same run, for
  **every** ratio it prints (a benchmark printing several gets one indented row per ratio,
  labelled with the text before the percentage);
* ``target`` and ``verdict``: parsed from each ratio's own line (``meets``/``MISSES``,
  ``ok``/``MISSED``, ``yes``/``no``, or the numbers of a ``>= N%`` target); a benchmark
  fails if any of its ratios does. ``benchmarks/_summary.py`` holds the parser.

The runner adds ``import``: the wall time of ``python -c "import cfemu"``, of
``from cfemu import Emulator`` and of a cold ``python -m cfemu --version`` (best of 5
processes each after one that writes the bytecode caches, the interpreter's own start-up
subtracted); ``import cfemu`` against the issue-20 target of 150 ms. See
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._summary import summarise, table

HERE = Path(__file__).parent
#: Small sizes per benchmark: enough to see the ratios, a few seconds each.
QUICK = {
    "ai_embeddings": ["--texts", "50", "--batch", "10"],
    "assets": ["--requests", "500", "--rounds", "1"],
    "cold_start": ["--rounds", "2"],
    "d1": ["--n", "2000", "--repeat", "2"],
    "d1_counters": ["--n", "3000", "--repeat", "2"],
    "durable_objects": ["--rows", "2000", "--ops", "2000"],
    "explorer": ["--messages", "10000", "--repeat", "3"],
    "http": ["--requests", "500", "--duration", "1", "--rounds", "1"],
    "kv": ["--keys", "2000", "--reads", "5000", "--rounds", "1"],
    "memory": ["--counts", "100000", "--modes", "memory"],
    "model_test": ["--examples", "50"],
    "persistence": ["--messages", "2000", "--rounds", "1"],
    "pull": ["--messages", "2000"],
    "queues": ["--messages", "2000", "--rounds", "1"],
    "queues_matrix": ["--messages", "2000", "--samples", "200", "--rounds", "1"],
    "redrive": ["--repeat", "3"],
}
IMPORT_TARGET_MS = 150.0


def benchmarks() -> list[str]:
    """The names of every ``bench_*.py`` beside this file (``bench_`` stripped)."""
    return sorted(path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py"))


def run_one(name: str, *, full: bool, timeout: float) -> dict[str, object]:
    """Run ``bench_<name>.py`` in its own process and summarise what it printed."""
    command = [sys.executable, str(HERE / f"bench_{name}.py")]
    if not full:
        command += QUICK.get(name, [])
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        output, code = done.stdout, done.returncode
        if code:
            output += done.stderr[-2000:]
    except subprocess.TimeoutExpired:
        output, code = f"timed out after {timeout:.0f} s", -1
    took = time.perf_counter() - start
    summary = summarise(output)  # a benchmark missing its target may exit non-zero
    if code and summary["figure"] is None:
        missed = summary["verdict"] == "FAIL" and summary["ratios"]
        summary["figure"] = f"{'a target missed' if missed else 'failed'} (exit {code})"
    if code and summary["verdict"] is None:
        summary["verdict"] = "FAIL"
    return {"name": name, "command": command[1:], "exit": code, "seconds": round(took, 1),
            "output": output, **summary}  # fmt: skip


#: Python may write bytecode caches here, as an installed package has them (pip compiles on
#: install): with PYTHONDONTWRITEBYTECODE set, every import would compile its sources again.
_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def _best_ms(command: list[str], runs: int = 5) -> float:
    subprocess.run(command, check=True, capture_output=True, env=_ENV)  # writes the caches
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=_ENV)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def run_import() -> dict[str, object]:
    """``import cfemu``, ``from cfemu import Emulator`` and a cold ``cfemu --version``, the
    interpreter's start-up subtracted."""
    python = _best_ms([sys.executable, "-c", "pass"])
    imported = _best_ms([sys.executable, "-c", "import cfemu"]) - python
    emulator = _best_ms([sys.executable, "-c", "from cfemu import Emulator"]) - python
    version = _best_ms([sys.executable, "-m", "cfemu", "--version"]) - python
    ok = imported <= IMPORT_TARGET_MS
    return {
        "name": "import",
        "exit": 0,
        "output": f"python start-up {python:.0f} ms (subtracted)\n"
        f"import cfemu {imported:.0f} ms\nfrom cfemu import Emulator {emulator:.0f} ms\n"
        f"cfemu --version {version:.0f} ms\n",
        "figure": f"import cfemu {imported:.0f} ms, Emulator {emulator:.0f} ms, "
        f"cfemu --version {version:.0f} ms",
        "ratio": None,
        "ratios": [],
        "target": f"import <= {IMPORT_TARGET_MS:.0f} ms",
        "verdict": "pass" if ok else "FAIL",
        "import_ms": round(imported, 1),
        "emulator_ms": round(emulator, 1),
        "version_ms": round(version, 1),
    }


def main() -> None:
    names = [*benchmarks(), "import"]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME", help=", ".join(names))
    parser.add_argument("--full", action="store_true", help="each benchmark's own default sizes")
    parser.add_argument("--json", type=Path, default=Path("benchmark-results.json"))
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark")
    args = parser.parse_args()
    results = []
    for name in args.only or names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        if name == "import":
            results.append(run_import())
        else:
            results.append(run_one(name, full=args.full, timeout=args.timeout))
    print(table(results))
    record = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "full": args.full,
              "python": sys.version.split()[0], "results": results}  # fmt: skip
    args.json.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()
