"""What ``python -m benchmarks`` reads in a benchmark's output, and the table it prints.

Benchmarks print free text; this module finds in it:

* the **figure**: the first line with a measured rate or time (``12,345 msg/s``, ``4.8 ms``);
* every **ratio**: a percentage on a line saying ``ratio`` or ``a / b``, or stating a
  ``>= N%`` target, or a row of a table whose header names a ``ratio`` column. Its label is
  the line's text before the percentage (a table row's figure columns dropped); its target
  and verdict are read from the same line;
* a **target** and **verdict** for benchmarks without ratios (the first line with a target).

Verdict words: ``meets``/``ok``/``yes``/``within`` pass; ``misses``/``missed``/``no``/
``below``/``over`` fail. A ratio with a ``>= N%`` target and no verdict word is judged by
the numbers. Unit-tested in ``tests/test_benchmarks_runner.py``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Ratio", "ratios", "summarise", "table"]

Ratio = dict[str, str | None]

_FIGURE = re.compile(
    r"(?<![\w.])\d[\d,]*(?:\.\d+)?\s*(?:[^\s/]+/s|ms|µs|us|s)\b"  # 12,345 msg/s, 4.8 ms
    r"|\S+/s:\s*\d"  # rpc calls/s: 17,190
)
_NUMBER = re.compile(r"[\d,.]+")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_TABLE_TARGET = re.compile(r"(?:>=|≥)\s*([\d.]+)\s*%")
_TARGET = re.compile(
    r"target\s*(?:>=|≥)\s*([\d.]+)\s*%|the\s+([\d.]+)\s*%\s+target|target\s*<\s*[\d.]+\s*ms"
    r"|target\s*(?:<=|≤)\s*[\d.]+\s*%"  # a cost ceiling: judged by its verdict word
)
_FAIL = re.compile(r"\b(?:misses|missed|below|over)\b|\bno\)|:\s*no\)?$", re.IGNORECASE)
_PASS = re.compile(r"\b(?:meets|ok|within)\b|\byes\)|:\s*yes\)?$", re.IGNORECASE)
_RATIO_WORD = re.compile(r"\bratio\b", re.IGNORECASE)


def _target(line: str) -> tuple[str | None, float | None]:
    """The target a line states (its text, and its percentage when it is ``>= N%``)."""
    found = _TARGET.search(line) or _TABLE_TARGET.search(line)
    if found is None:
        return None, None
    number = next((group for group in found.groups() if group), None)
    return found.group(0), None if number is None else float(number)


def _verdict(line: str) -> str | None:
    """``pass``/``FAIL`` from the line's own wording, or None when it says neither."""
    text = line.rstrip()
    if _FAIL.search(text):
        return "FAIL"
    if _PASS.search(text):
        return "pass"
    return None


def ratios(output: str) -> list[Ratio]:
    """Every ratio the output states, in order: label, ratio, target and verdict."""
    found: list[Ratio] = []
    in_table = False  # below a header line naming a "ratio" column
    for raw in output.splitlines():
        line = " ".join(raw.split())
        percent = _PERCENT.search(line)
        if percent is None:
            in_table = bool(_RATIO_WORD.search(line))  # a header, or the table's end
            continue
        if not (
            in_table or _RATIO_WORD.search(line) or " / " in line or _TABLE_TARGET.search(line)
        ):
            continue
        target, wanted = _target(line[percent.end() :])
        verdict = _verdict(line[percent.end() :]) if target else None
        value = float(percent.group(1))
        if verdict is None and wanted is not None:
            verdict = "pass" if value >= wanted else "FAIL"
        words = line[: percent.start()].split()
        while words and _NUMBER.fullmatch(words[-1]):  # a table's figure columns
            words.pop()
        label = " ".join(words).rstrip(":")
        found.append(
            {"label": label, "ratio": f"{percent.group(1)}%", "target": target, "verdict": verdict}
        )
    return found


def summarise(output: str) -> dict[str, Any]:
    """The figure, every ratio, and the overall ratio/target/verdict a benchmark's output
    states (None where it states none). The overall verdict fails if any ratio fails."""
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    figure = next((line for line in lines if _FIGURE.search(line)), None)
    found = ratios(output)
    target = verdict = None
    if found:
        targets = [r["target"] for r in found if r["target"]]
        target = targets[0] if len(targets) == 1 else f"{len(targets)} targets" if targets else None
        verdicts = {r["verdict"] for r in found}
        verdict = "FAIL" if "FAIL" in verdicts else "pass" if "pass" in verdicts else None
    else:
        for line in lines:
            text, _ = _target(line)
            if text:
                target, verdict = text, _verdict(line)
                break
    return {
        "figure": figure,
        "ratio": found[0]["ratio"] if found else None,
        "ratios": found,
        "target": target,
        "verdict": verdict,
    }


def table(results: list[dict[str, Any]]) -> str:
    """One aligned text table: a row per benchmark (its figure and overall verdict), then,
    when it states several ratios, one indented row per ratio with its own target."""
    rows = [("benchmark", "figure", "ratio", "target", "verdict")]
    for result in results:
        found: list[Ratio] = result.get("ratios") or []
        figure = str(result.get("figure") or "")[:70]
        if len(found) <= 1:
            cells = [result.get(key) or "-" for key in ("ratio", "target", "verdict")]
            rows.append((str(result["name"]), figure, *(str(cell) for cell in cells)))
            continue
        rows.append((str(result["name"]), figure, "", "", str(result.get("verdict") or "-")))
        for ratio in found:
            label = "  " + str(ratio["label"] or "ratio")[:68]
            cells = [ratio.get(key) or "-" for key in ("ratio", "target", "verdict")]
            rows.append(("", label, *(str(cell) for cell in cells)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
