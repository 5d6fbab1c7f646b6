"""``cfemu queues ...``: inspect and purge persisted queue state."""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``queues`` command group to the ``cfemu`` parser."""
