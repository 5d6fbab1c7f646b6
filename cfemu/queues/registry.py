"""What the Cloudflare API knows of queues beyond their messages, kept across restarts.

Queue ids and creation times, queues created over the API, HTTP pull consumers, and paused
deliveries live in ``<persist_to>/queues-settings.json`` (written atomically: a temporary
file, fsync, rename), beside ``queues.sqlite`` which holds the messages. In memory when the
emulator persists nothing.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cfemu.errors import StateError
from cfemu.queues.pull import PullSettings

__all__ = ["SETTINGS_FILE", "QueueRecord", "QueueRegistry", "now_iso", "queue_id_for"]

#: The file under the state folder.
SETTINGS_FILE: Final = "queues-settings.json"
_NAMESPACE = uuid.UUID("2f0c4c3e-8a59-4bd2-9d0e-6f2b0a4cb4a1")


def now_iso() -> str:
    """The current UTC time as Cloudflare writes it (ISO 8601, ``Z``)."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def queue_id_for(name: str) -> str:
    """The stable 32-hex id of a queue the configs name."""
    return uuid.uuid5(_NAMESPACE, name).hex


@dataclass
class QueueRecord:
    """One queue as the API describes it."""

    queue_id: str
    queue_name: str
    created_on: str
    modified_on: str
    configured: bool = False
    delivery_delay: int = 0
    message_retention_period: int = 345_600
    paused: bool = False
    purged_at: str | None = None
    pull: dict[str, Any] | None = None
    """The HTTP pull consumer: ``{"consumer_id", "created_on", "settings": {...}}``."""

    def pull_settings(self) -> PullSettings | None:
        """The pull consumer's settings, if the queue has one."""
        if self.pull is None:
            return None
        return PullSettings(**self.pull["settings"])


class QueueRegistry:
    """Every queue's API record, by name; loaded from and saved to ``path`` (if any)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.queues: dict[str, QueueRecord] = {}
        if path is not None and path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                for entry in raw["queues"]:
                    record = QueueRecord(**entry)
                    record.configured = False
                    self.queues[record.queue_name] = record
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise StateError(
                    f"{path}: unreadable queue settings ({exc}); restore the file from a "
                    f"backup, or start with another --persist-to folder"
                ) from None

    def ensure(self, name: str, *, configured: bool = False) -> QueueRecord:
        """The record of ``name``, created (and saved) if new."""
        record = self.queues.get(name)
        if record is None:
            stamp = now_iso()
            ident = queue_id_for(name) if configured else uuid.uuid4().hex
            record = self.queues[name] = QueueRecord(ident, name, stamp, stamp)
            self.save()
        record.configured = record.configured or configured
        return record

    def find(self, id_or_name: str) -> QueueRecord | None:
        """The queue whose id, or else name, is ``id_or_name``."""
        for record in self.queues.values():
            if record.queue_id == id_or_name:
                return record
        return self.queues.get(id_or_name)

    def remove(self, name: str) -> None:
        """Forget queue ``name``."""
        self.queues.pop(name, None)
        self.save()

    def touch(self, record: QueueRecord) -> None:
        """Mark ``record`` modified now, and save."""
        record.modified_on = now_iso()
        self.save()

    def save(self) -> None:
        """Write the registry (atomically) when it is persisted."""
        if self.path is None:
            return
        entries = [
            {k: v for k, v in asdict(r).items() if k != "configured"} for r in self.queues.values()
        ]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"queues": entries}, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
