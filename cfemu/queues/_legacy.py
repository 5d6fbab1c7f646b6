"""Upgrading queue state format 1, whose ``v8`` bodies are pickles, without running stored code.

cfemu before format 2 stored ``v8`` bodies with :func:`pickle.dumps`. Unpickling calls
whatever the bytes name, so a crafted state file could run code. The upgrade reads each such
body with an unpickler that resolves *only* the constructors of the value types a ``v8`` body
can carry (sets, dates, decimals, ...; :data:`ALLOWED`) and refuses every other global before
anything is called, then stores the value in the data encoding of :mod:`cfemu.queues._v8`.

A body that names anything else (an instance of the sender's own class, which old cfemu
accepted, or a crafted payload) is left byte for byte as it is and never unpickled: it cannot
be decoded, so its deliveries fail and it ends in the dead-letter queue (or is dropped) like
any body that cannot be deserialized, and ``cfemu queues inspect`` shows it as undecoded.
"""

from __future__ import annotations

import io
import logging
import pickle
import re
import sqlite3
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from cfemu.queues import _v8

__all__ = ["ALLOWED", "upgrade_v8_bodies"]

log = logging.getLogger("cfemu.queues")

#: ``(module, name)`` → object: every global a format-1 ``v8`` body of a supported value may
#: name. Constructors of plain values only; nothing here runs code chosen by the data.
ALLOWED: Final[dict[tuple[str, str], Any]] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("datetime", "datetime"): datetime,
    ("datetime", "date"): date,
    ("datetime", "time"): time,
    ("datetime", "timedelta"): timedelta,
    ("datetime", "timezone"): timezone,
    ("decimal", "Decimal"): Decimal,
    ("re", "_compile"): re.compile,
    ("zoneinfo", "ZoneInfo._unpickle"): ZoneInfo,  # called with (key, from_cache)
}


class _DataOnlyUnpickler(pickle.Unpickler):
    """Resolves only :data:`ALLOWED`; any other global is refused before it is imported."""

    def find_class(self, module: str, name: str) -> Any:
        found = ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not a v8 value type")
        if found is ZoneInfo:
            return _zone
        return found


def _zone(key: str, from_cache: object = True) -> ZoneInfo:
    return ZoneInfo(key)


def convert(payload: bytes) -> bytes | None:
    """The format-2 form of one format-1 ``v8`` body, or ``None`` if it names anything but
    the allowed value types (or is not a readable pickle)."""
    try:
        value = _DataOnlyUnpickler(io.BytesIO(payload)).load()
        return _v8.dumps(value)
    except Exception:  # refused global, damaged pickle, or a value v8 cannot carry
        return None


def upgrade_v8_bodies(conn: sqlite3.Connection) -> None:
    """Format 1 → 2 (inside the caller's transaction): rewrite every ``v8`` body as data."""
    rows = conn.execute(
        "SELECT seq, id, queue, payload FROM messages WHERE content_type = 'v8'"
    ).fetchall()
    kept: list[str] = []
    for seq, id_, queue, payload in rows:
        data = convert(bytes(payload))
        if data is None:
            kept.append(f"{id_} on {queue}")
            continue
        conn.execute(
            "UPDATE messages SET payload = ?, size = ? WHERE seq = ?", (data, len(data), seq)
        )
    if kept:
        log.warning(
            "%d v8 message(s) stored by an older cfemu hold values other than plain data "
            "(their own classes) and were left as they are, undecodable: their deliveries "
            "fail and they go to the dead-letter queue or are dropped: %s",
            len(kept),
            ", ".join(kept[:10]) + (" ..." if len(kept) > 10 else ""),
        )
