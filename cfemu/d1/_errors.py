"""D1's error messages, and SQLite's errors as D1 reports them locally."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from cfemu.d1._deadline import TIMEOUT_MESSAGE
from cfemu.d1.guard import TRANSACTION_MESSAGE, Guard
from cfemu.errors import D1Error
from cfemu.state import WAY_OUT

__all__ = [
    "NO_STATEMENTS",
    "ONLY_LAST_HAS_PARAMS",
    "TOO_LONG",
    "VACUUM_IN_TRANSACTION",
    "WRONG_BINDINGS",
    "translate_error",
]

_PRIMARY_CODES: Final = {
    1: "SQLITE_ERROR",
    2: "SQLITE_INTERNAL",
    3: "SQLITE_PERM",
    4: "SQLITE_ABORT",
    5: "SQLITE_BUSY",
    6: "SQLITE_LOCKED",
    7: "SQLITE_NOMEM",
    8: "SQLITE_READONLY",
    9: "SQLITE_INTERRUPT",
    10: "SQLITE_IOERR",
    11: "SQLITE_CORRUPT",
    12: "SQLITE_NOTFOUND",
    13: "SQLITE_FULL",
    14: "SQLITE_CANTOPEN",
    15: "SQLITE_PROTOCOL",
    16: "SQLITE_EMPTY",
    17: "SQLITE_SCHEMA",
    18: "SQLITE_TOOBIG",
    19: "SQLITE_CONSTRAINT",
    20: "SQLITE_MISMATCH",
    21: "SQLITE_MISUSE",
    22: "SQLITE_NOLFS",
    23: "SQLITE_AUTH",
    24: "SQLITE_FORMAT",
    25: "SQLITE_RANGE",
    26: "SQLITE_NOTADB",
}
NO_STATEMENTS: Final = "No SQL statements detected."
WRONG_BINDINGS: Final = "Wrong number of parameter bindings for SQL query."
ONLY_LAST_HAS_PARAMS: Final = (
    "When executing multiple SQL statements in a single call, only the last statement can "
    "have parameters."
)
TOO_LONG: Final = "statement too long: SQLITE_TOOBIG"
VACUUM_IN_TRANSACTION: Final = "cannot VACUUM from within a transaction: SQLITE_ERROR"


def translate_error(
    exc: Exception, guard: Guard | None = None, path: Path | None = None
) -> D1Error:
    """A ``sqlite3`` error as D1 reports it locally: ``<message>: SQLITE_<CODE>``.

    A damaged database file (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``) cannot happen on D1;
    locally the message names the file at ``path`` and what to do.
    """
    message = str(exc)
    code: int | None = getattr(exc, "sqlite_errorcode", None)
    denial = None
    if guard is not None and guard.denial is not None:
        denial, guard.denial = guard.denial, None
    if code is not None:
        primary = _PRIMARY_CODES.get(code & 0xFF) or getattr(exc, "sqlite_errorname", "")
        if denial is not None and denial.transaction and primary == "SQLITE_AUTH":
            err = D1Error(TRANSACTION_MESSAGE)
        elif primary == "SQLITE_INTERRUPT":  # only the query deadline interrupts
            err = D1Error(TIMEOUT_MESSAGE)
        elif primary in ("SQLITE_CORRUPT", "SQLITE_NOTADB") and path is not None:
            err = D1Error(
                f"{message}: {primary} (cfemu: the database file {path} is damaged. {WAY_OUT})"
            )
        else:
            err = D1Error(f"{message}: {primary}")
        if denial is not None:
            err.add_note(f"cfemu: {denial.reason} (spec: d1.md §7)")
        return err
    if isinstance(exc, sqlite3.ProgrammingError):
        if message.startswith("Incorrect number of bindings"):
            return D1Error(WRONG_BINDINGS)
        if message.startswith("Error binding parameter"):
            return D1Error("string or blob too big: SQLITE_TOOBIG")
    if isinstance(exc, sqlite3.DataError) and message == "query string is too large":
        return D1Error(TOO_LONG)
    return D1Error(message)
