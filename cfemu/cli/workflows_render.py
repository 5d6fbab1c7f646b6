"""How ``cfemu workflows`` prints: wrangler's status emojis, labelled values, step tables."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, Final

__all__ = [
    "STATUSES",
    "describe_text",
    "duration",
    "emojify_status",
    "labelled",
    "local_time",
    "warn",
]

#: Cloudflare's instance statuses, in wrangler's order.
STATUSES: Final = (
    "queued",
    "running",
    "paused",
    "errored",
    "terminated",
    "complete",
    "waiting",
    "waitingForPause",
)
_STATUS: Final = {
    "complete": "✅ Completed",
    "errored": "❌ Errored",
    "paused": "⏸️ Paused",
    "queued": "⌛ Queued",
    "running": "▶ Running",
    "terminated": "🚫 Terminated",
    "waiting": "⏰ Waiting",
    "waitingForPause": "⏱️ Waiting for Pause",
}
_STEP_TYPE: Final = {
    "step": "🎯 Step",
    "sleep": "💤 Sleeping",
    "waitForEvent": "👀 Waiting for event",
}
_TRIGGER: Final = {"api": "🌎 API", "binding": "🔗 Binding", "cron": "⌛ Cron", "event": "📩 Event"}
_UNITS: Final = (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600))


def warn(message: str) -> None:
    """A warning line on stderr, in wrangler's style."""
    print(f"▲ [WARNING] {message}", file=sys.stderr)


def emojify_status(status: str) -> str:
    """``"✅ Completed"`` for ``"complete"``, as wrangler shows statuses."""
    return _STATUS.get(status, "❓ Unknown")


def local_time(ms: float) -> str:
    """Epoch milliseconds as a local date and time, ``2026-03-01 13:00:00``."""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _ms(iso: str | None) -> float | None:
    if iso is None:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def _when(iso: str | None) -> str:
    ms = _ms(iso)
    return "" if ms is None else local_time(ms)


def duration(start_ms: float, end_ms: float) -> str:
    """A rounded distance in one unit, as date-fns' ``formatDistanceStrict``: ``"3 days"``."""
    seconds = abs(end_ms - start_ms) / 1000
    value, unit = round(seconds), "second"
    for name, size in _UNITS:
        if seconds >= size:
            value, unit = round(seconds / size), name
            break
    else:
        if seconds >= 60:
            value, unit = round(seconds / 60), "minute"
    return f"{value} {unit}{'' if value == 1 else 's'}"


def labelled(values: dict[str, str], *, indent: int = 0) -> str:
    """``Label:  value`` lines with the values aligned (wrangler's labelled values)."""
    if not values:
        return ""
    width = max(len(label) + 1 for label in values)
    lines = []
    for label, value in values.items():
        pad = " " * (width - len(label) - 1 + 2)
        rest = "\n".join(
            (" " * (width + 2 + indent)) + line if i else line
            for i, line in enumerate(value.split("\n"))
        )
        lines.append(f"{' ' * indent}{label}:{pad}{rest}")
    return "\n".join(lines)


def _span(found: dict[str, str], start: str | None, end: str | None, now_ms: float) -> None:
    """Start, End and Duration as wrangler shows them: a span without an end (running,
    waiting) lasts until ``now_ms``."""
    if start is not None:
        found["Start"] = _when(start)
    if end is not None:
        found["End"] = _when(end)
    start_ms, end_ms = _ms(start), _ms(end)
    if start_ms is not None:
        found["Duration"] = duration(start_ms, now_ms if end_ms is None else end_ms)


def describe_text(
    workflow: str,
    instance_id: str,
    found: dict[str, Any],
    *,
    step_output: bool,
    limit: int,
    now_ms: float,
) -> str:
    """An instance's description (``describe_instance``'s answer) as wrangler prints it;
    ``now_ms`` ends the Duration of what has not ended."""
    from cfemu.cli.d1 import _table

    head: dict[str, str] = {
        "Workflow Name": workflow,
        "Instance Id": instance_id,
        "Status": emojify_status(found["status"]),
    }
    source = (found.get("trigger") or {}).get("source")
    if source in _TRIGGER:  # cfemu does not record it: shown only when an API gives it
        head["Trigger"] = _TRIGGER[source]
    if found.get("queued"):
        head["Queued"] = _when(found["queued"])
    if found.get("success") is not None:
        head["Success"] = "✅ Yes" if found["success"] else "❌ No"
    _span(head, found.get("start"), found.get("end"), now_ms)
    last = None
    for step in found["steps"]:
        if (step["type"] == "step" and step.get("success")) or (
            step["type"] == "sleep" and step.get("finished")
        ):
            last = step["name"]
    if last is not None:
        head["Last Successful Step"] = last
    if found.get("error"):
        head["Error"] = f"{found['error']['name']}: {found['error']['message']}"
    out = ["Describing instance:", labelled(head), "Steps:"]
    for step in found["steps"]:
        lines: dict[str, str] = {"Name": step["name"], "Type": _STEP_TYPE[step["type"]]}
        _span(lines, step.get("start"), step.get("end"), now_ms)
        if step["type"] == "step":
            success = step.get("success")
            lines["Success"] = "▶ Running" if success is None else "✅ Yes" if success else "❌ No"
        if step["type"] != "sleep" and "output" in step and step_output:
            text = json.dumps(step["output"], ensure_ascii=False, default=str)
            if len(text) > limit:
                text = text[:limit] + "[...output truncated]"
            lines["Output"] = text
        out += ["", labelled(lines, indent=2)]
        if step["type"] == "step" and step["attempts"]:
            rows = []
            for attempt in step["attempts"]:
                start_ms, end_ms = _ms(attempt["start"]), _ms(attempt["end"])
                end_ms = now_ms if end_ms is None else end_ms  # wrangler: "until now"
                state = (
                    "🔄 Working"
                    if attempt["success"] is None
                    else "✅ Success"
                    if attempt["success"]
                    else "❌ Error"
                )
                error = attempt.get("error")
                rows.append(
                    [
                        _when(attempt["start"]),
                        _when(attempt["end"]),
                        "" if start_ms is None or end_ms is None else duration(start_ms, end_ms),
                        state,
                        "" if not error else f"{error['name']}: {error['message']}",
                    ]
                )
            out.append(_table(["Start", "End", "Duration", "State", "Error"], rows))
    return "\n".join(out)
