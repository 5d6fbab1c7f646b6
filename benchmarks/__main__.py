"""Run every benchmark of the project and print one summary table (on demand).

Run: ``python -m benchmarks [--full] [--only NAME ...] [--json PATH]`` from the repository
root. Not collected by pytest. Each ``benchmarks/bench_*.py`` runs as its own process (with
small sizes unless ``--full``: then each benchmark's own defaults), one after another; its
output is kept whole in the JSON file and summarised in the table:

* ``figure``: the first line of the output with a measured number;
* ``ratio``: cfemu against the baseline the benchmark measured in the same run (the first
  percentage on a line saying ``ratio`` or ``/``), when it prints one;
* ``target`` and ``verdict``: parsed from the benchmark's own ``target`` wording
  (``meets``/``MISSES``, ``yes``/``no``), when it prints them.

The runner adds ``import``: the wall time of ``python -c "import cfemu"`` and of a cold
``python -m cfemu --version`` (best of 5 processes each, the interpreter's own start-up
subtracted), against the issue-20 target of 150 ms. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
#: Small sizes per benchmark: enough to see the ratios, a few seconds each.
QUICK = {
    "ai_embeddings": ["--texts", "50", "--batch", "10"],
    "assets": ["--requests", "500", "--rounds", "1"],
    "d1": ["--n", "2000", "--repeat", "2"],
    "durable_objects": ["--rows", "2000", "--ops", "2000"],
    "explorer": ["--messages", "10000", "--repeat", "3"],
    "http": ["--requests", "500", "--rounds", "1"],
    "kv": ["--keys", "2000", "--reads", "5000", "--rounds", "1"],
    "memory": ["--counts", "100000", "--modes", "memory"],
    "model_test": ["--examples", "50"],
    "persistence": ["--messages", "2000", "--rounds", "1"],
    "pull": ["--messages", "2000"],
    "queues": ["--messages", "2000", "--rounds", "1"],
}
IMPORT_TARGET_MS = 150.0
_FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?\s*(?:[^\s/]+/s|ms|µs|s)\b")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_TABLE_TARGET = re.compile(r">=\s*[\d.]+\s*%")
_TARGET = re.compile(
    r"target\s*(?:>=|≥)\s*[\d.]+\s*%|the\s+[\d.]+\s*%\s+target|target\s*<\s*[\d.]+\s*ms"
)


def benchmarks() -> list[str]:
    """The names of every ``bench_*.py`` beside this file (``bench_`` stripped)."""
    return sorted(path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py"))


def summarise(output: str) -> dict[str, str | None]:
    """The figure, ratio, target and verdict a benchmark's output states (None if not)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    figure = next((line for line in lines if _FIGURE.search(line)), None)
    ratio = None
    for line in lines:
        found = _PERCENT.search(line)
        if found and ("ratio" in line.lower() or " / " in line or _TABLE_TARGET.search(line)):
            ratio = found.group(1) + "%"
            break
    target = verdict = None
    for line in lines:
        found = _TARGET.search(line) or _TABLE_TARGET.search(line)
        if found:
            target = found.group(0)
            lowered = line.lower()
            if any(word in lowered for word in ("misses", "missed", "no)")) or lowered.rstrip(
                ")"
            ).endswith(": no"):
                verdict = "FAIL"
            elif any(word in lowered for word in ("meets", " ok", "yes)")) or lowered.rstrip(
                ")"
            ).endswith(": yes"):
                verdict = "pass"
            break
    return {"figure": figure, "ratio": ratio, "target": target, "verdict": verdict}


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
        summary["figure"] = f"failed (exit {code})"
    if code and summary["verdict"] is None:
        summary["verdict"] = "FAIL"
    return {"name": name, "command": command[1:], "exit": code, "seconds": round(took, 1),
            "output": output, **summary}  # fmt: skip


def _best_ms(command: list[str], runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def run_import() -> dict[str, object]:
    """``import cfemu`` and a cold ``cfemu --version``, the interpreter's start-up subtracted."""
    python = _best_ms([sys.executable, "-c", "pass"])
    imported = _best_ms([sys.executable, "-c", "import cfemu"]) - python
    version = _best_ms([sys.executable, "-m", "cfemu", "--version"]) - python
    ok = imported <= IMPORT_TARGET_MS
    return {
        "name": "import",
        "exit": 0,
        "output": f"python start-up {python:.0f} ms (subtracted)\n"
        f"import cfemu {imported:.0f} ms\ncfemu --version {version:.0f} ms\n",
        "figure": f"import cfemu {imported:.0f} ms, cfemu --version {version:.0f} ms",
        "ratio": None,
        "target": f"import <= {IMPORT_TARGET_MS:.0f} ms",
        "verdict": "pass" if ok else "FAIL",
        "import_ms": round(imported, 1),
        "version_ms": round(version, 1),
    }


def table(results: list[dict[str, object]]) -> str:
    """One aligned text table of the results."""
    rows = [("benchmark", "figure", "ratio", "target", "verdict")]
    for result in results:
        figure = str(result.get("figure") or "")
        cells = [result.get(key) or "-" for key in ("ratio", "target", "verdict")]
        rows.append((str(result["name"]), figure[:70], *(str(cell) for cell in cells)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
    )


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
