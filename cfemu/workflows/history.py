"""An instance's status and step history, in the shape Cloudflare's API gives it.

:func:`describe_instance` reads the store and returns what ``wrangler workflows instances
describe`` renders (Cloudflare's ``InstanceStatusAndLogs``): ``status``, ``params``,
``queued``/``start``/``end`` (when it finished), ``success``, ``error`` and ``steps``:
each ``step.do`` with its attempts (start, end, success, error) and output, each sleep
with its start and end, each ``wait_for_event`` with the event it received. Times are
ISO 8601 UTC strings. The history comes from the store's ``attempts`` table: an instance
recorded by a cfemu that did not keep attempts shows its completed steps without times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cfemu.workflows.engine import FINITE
from cfemu.workflows.store import WorkflowStore

__all__ = ["describe_instance", "iso_ms", "step_name"]

_TYPES: Final = {
    "do": "step",
    "sleep": "sleep",
    "event": "waitForEvent",
    "deadline": "waitForEvent",
}


def iso_ms(ms: float | None) -> str | None:
    """Epoch milliseconds as ``2026-03-01T12:00:00.000Z`` (``None`` stays ``None``)."""
    if ms is None:
        return None
    stamp = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def step_name(key: str) -> tuple[str, str, int]:
    """``("do", "charge", 2)`` from the cache key ``do:charge-2``."""
    kind, _, rest = key.partition(":")
    name, _, count = rest.rpartition("-")
    return kind, name, int(count) if count.isdigit() else 1


@dataclass
class _Entry:
    type: str
    name: str
    start: int | None = None
    end: int | None = None
    output: Any = None
    has_output: bool = False
    recorded: bool = False
    attempts: list[dict[str, Any]] = field(default_factory=list)


def describe_instance(
    store: WorkflowStore, workflow: str, instance_id: str, *, now_ms: float
) -> dict[str, Any]:
    """The instance's status and step history (``KeyError`` when it is not stored);
    ``now_ms`` (the caller's clock) tells a finished sleep from a running one."""
    row = store.instance(workflow, instance_id)
    if row is None:
        raise KeyError(instance_id)
    finite = row.status in FINITE
    items: list[tuple[int, str, Any, Any]] = [
        (seq, key, value, None) for seq, key, value in store.timeline(workflow, instance_id)
    ]
    items += [(a.seq, a.key, None, a) for a in store.attempts(workflow, instance_id)]
    items.sort(key=lambda item: item[0])
    entries: dict[str, _Entry] = {}
    for _, key, value, attempt in items:
        kind, name, count = step_name(key)
        if kind not in _TYPES:
            continue
        ident = f"{_TYPES[kind]}:{name}-{count}"
        entry = entries.get(ident)
        if entry is None:
            entry = entries[ident] = _Entry(_TYPES[kind], name)
        if attempt is not None:
            entry.start = attempt.start_ms if entry.start is None else entry.start
            entry.end = attempt.end_ms
            if kind == "do":
                end = attempt.end_ms
                error = attempt.error
                if end is None and finite:  # its instance ended (terminated) while it ran
                    error = {"name": "Interrupted", "message": f"the instance {row.status}"}
                entry.attempts.append(
                    {
                        "start": iso_ms(attempt.start_ms),
                        "end": iso_ms(end),
                        "success": None if end is None and not finite else error is None,
                        "error": error,
                    }
                )
        elif kind == "do":
            entry.recorded, entry.output, entry.has_output = True, value, True
        elif kind == "sleep":
            entry.recorded, entry.end = True, int(value)
        elif kind == "event":
            entry.recorded, entry.output, entry.has_output = True, value, True
            entry.end = value.get("timestamp") if isinstance(value, dict) else None
    ordered = list(entries.values())
    # a sleep followed by another step, or in a finished instance, is over (whatever the
    # caller's clock says: the instance may have run on a virtual clock)
    steps = [
        _step(entry, finite, now_ms, later=finite or i + 1 < len(ordered))
        for i, entry in enumerate(ordered)
    ]
    starts = [e.start for e in entries.values() if e.start is not None]
    found: dict[str, Any] = {
        "status": row.status,
        "params": row.params,
        "trigger": {"source": "unknown"},  # the store does not record what created it
        "queued": iso_ms(row.created_ms),
        "start": iso_ms(min(starts)) if starts else None,
        "end": iso_ms(store.times(workflow, instance_id)[1]) if finite else None,
        "success": None if not finite else row.status == "complete",
        "error": row.error if row.status == "errored" else None,
        "steps": steps,
    }
    if row.status == "complete":
        found["output"] = row.output
    return found


def _step(entry: _Entry, finite: bool, now_ms: float, *, later: bool) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": entry.name,
        "type": entry.type,
        "start": iso_ms(entry.start),
        "end": iso_ms(entry.end),
    }
    if entry.type == "step":
        success = True if entry.recorded else False if finite else None
        step["success"] = success
        step["attempts"] = entry.attempts
        if not entry.recorded:
            step["end"] = None if success is None else step["end"]
    elif entry.type == "sleep":
        step["finished"] = entry.end is not None and (later or entry.end <= now_ms)
    else:
        step["finished"] = entry.has_output
    if entry.has_output:
        step["output"] = entry.output
    return step
