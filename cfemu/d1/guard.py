"""D1's SQL restrictions: SQLite limits and an authorizer (spec: d1.md §6, §7).

The authorizer runs while SQLite compiles a statement (once per distinct SQL text: the
connection caches compiled statements), so it costs nothing per execution. It denies what
D1 denies, for the same reasons workerd's authorizer does:

* ``ATTACH``/``DETACH`` and any schema other than ``main`` (TEMP objects included);
* ``BEGIN``/``COMMIT``/``ROLLBACK``/``SAVEPOINT``/``RELEASE``: every D1 query and batch
  already runs in its own transaction;
* PRAGMAs outside D1's allowlist, and boolean PRAGMAs set to something not boolean;
* SQL functions outside D1's allowlist (``sqlite_version()``, ``load_extension`` is on the
  list but extension loading is off), virtual-table modules other than FTS5 and R*Tree;
* names starting with ``_cf_`` (any case), which Cloudflare reserves.

A denial leaves a reason behind (:attr:`Guard.denial`) so the error can say *why*.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import Final

from cfemu.limits import (
    D1_MAX_BOUND_PARAMETERS,
    D1_MAX_COLUMNS,
    D1_MAX_COMPOUND_SELECT,
    D1_MAX_EXPR_DEPTH,
    D1_MAX_FUNCTION_ARGS,
    D1_MAX_LIKE_PATTERN_BYTES,
    D1_MAX_SQL_BYTES,
    D1_MAX_TRIGGER_DEPTH,
    D1_MAX_VALUE_BYTES,
)

__all__ = [
    "ALLOWED_FUNCTIONS",
    "ALLOWED_VTABLE_MODULES",
    "BOOLEAN_PRAGMAS",
    "RESERVED_PREFIX",
    "TRANSACTION_MESSAGE",
    "Denial",
    "Guard",
    "apply_limits",
]

#: Every limit D1 sets on its SQLite connection.
LIMITS: Final[dict[int, int]] = {
    sqlite3.SQLITE_LIMIT_LENGTH: D1_MAX_VALUE_BYTES,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: D1_MAX_SQL_BYTES,
    sqlite3.SQLITE_LIMIT_COLUMN: D1_MAX_COLUMNS,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: D1_MAX_BOUND_PARAMETERS,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: D1_MAX_FUNCTION_ARGS,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: D1_MAX_LIKE_PATTERN_BYTES,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: D1_MAX_COMPOUND_SELECT,
    sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH: D1_MAX_TRIGGER_DEPTH,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: D1_MAX_EXPR_DEPTH,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
}

RESERVED_PREFIX: Final = "_cf_"

#: The message workerd gives for a transaction statement in user SQL (spec: d1.md §7).
TRANSACTION_MESSAGE: Final = (
    "To execute a transaction, please use the state.storage.transaction() or "
    "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT "
    "statements. The JavaScript API is safer because it will automatically roll back on "
    "exceptions, and because it interacts correctly with Durable Objects' automatic atomic "
    "write coalescing."
)

# Function names as listed in SQLite's documentation of its core, date, aggregate, window,
# math, JSON and FTS5 functions: the families D1 allows (spec: d1.md §7). Functions that
# reveal build details (sqlite_version, sqlite_source_id, sqlite_compileoption_*,
# sqlite_offset) are not among them.
_FUNCTION_NAMES: Final = """
    abs changes char coalesce concat concat_ws format glob hex ifnull iif instr
    last_insert_rowid length like likelihood likely load_extension lower ltrim max_scalar
    min_scalar nullif octet_length printf quote random randomblob replace round rtrim sign
    soundex substr substring total_changes trim typeof unhex unicode unlikely upper zeroblob
    date time datetime julianday unixepoch strftime timediff current_date current_time
    current_timestamp
    avg count group_concat max min string_agg sum total
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
    nth_value
    acos acosh asin asinh atan atan2 atanh ceil cos cosh degrees exp floor ln log log2 mod pi
    pow radians sin sinh sqrt tan tanh trunc
    json json_array json_array_length json_extract -> ->> json_insert json_object json_patch
    json_remove json_replace json_set json_type json_valid json_quote json_group_array
    json_group_object json_each json_tree json_error_position json_pretty
    jsonb jsonb_array jsonb_extract jsonb_insert jsonb_object jsonb_patch jsonb_remove
    jsonb_replace jsonb_set jsonb_group_array jsonb_group_object
    match highlight bm25 snippet rtreecheck
    sqlite_rename_column sqlite_rename_table sqlite_rename_test sqlite_drop_column
    sqlite_rename_quotefix
"""
ALLOWED_FUNCTIONS: Final = frozenset(_FUNCTION_NAMES.split())

ALLOWED_VTABLE_MODULES: Final = frozenset({"fts5", "fts5vocab", "rtree", "rtree_i32"})

#: PRAGMAs that toggle a setting; D1 lets queries set them (to a boolean) or read them.
BOOLEAN_PRAGMAS: Final = frozenset(
    {
        "case_sensitive_like",
        "foreign_keys",
        "defer_foreign_keys",
        "ignore_check_constraints",
        "legacy_alter_table",
        "recursive_triggers",
        "reverse_unordered_selects",
    }
)
_OBJECT_PRAGMAS: Final = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
_OPTIONAL_OBJECT_PRAGMAS: Final = frozenset({"foreign_key_check"})
_READ_ONLY_PRAGMAS: Final = frozenset({"data_version", "page_size", "table_list"})
_BOOLEAN_WORDS: Final = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})
ALLOWED_PRAGMAS: Final = (
    BOOLEAN_PRAGMAS
    | _OBJECT_PRAGMAS
    | _OPTIONAL_OBJECT_PRAGMAS
    | _READ_ONLY_PRAGMAS
    | {"quick_check", "optimize"}
)

#: Eponymous virtual tables of this SQLite build that D1 does not offer (cfemu reads
#: ``sqlite_stmt`` itself for rows_read; user SQL must not see it).
_INTERNAL_TABLES = frozenset({"sqlite_stmt", "sqlite_dbpage", "dbstat"})
_NAME_ACTIONS: Final = frozenset(
    {
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_DROP_TABLE,
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_DROP_VIEW,
        sqlite3.SQLITE_REINDEX,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_UPDATE,
    }
)
_TWO_NAME_ACTIONS: Final = frozenset(
    {
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_DROP_INDEX,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_DROP_TRIGGER,
    }
)
_TEMP_ACTIONS: Final = frozenset(
    {
        sqlite3.SQLITE_CREATE_TEMP_TABLE,
        sqlite3.SQLITE_DROP_TEMP_TABLE,
        sqlite3.SQLITE_CREATE_TEMP_INDEX,
        sqlite3.SQLITE_DROP_TEMP_INDEX,
        sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
        sqlite3.SQLITE_DROP_TEMP_TRIGGER,
        sqlite3.SQLITE_CREATE_TEMP_VIEW,
        sqlite3.SQLITE_DROP_TEMP_VIEW,
    }
)
_OK: Final = sqlite3.SQLITE_OK
_DENY: Final = sqlite3.SQLITE_DENY


def apply_limits(conn: sqlite3.Connection) -> None:
    """Set D1's limits on ``conn`` (bound parameters, SQL length, value size, columns...)."""
    for category, value in LIMITS.items():
        conn.setlimit(category, value)


def _reserved(name: str | None) -> bool:
    return name is not None and name[:4].lower() == RESERVED_PREFIX


@dataclass(frozen=True, slots=True)
class Denial:
    """Why the authorizer refused part of a statement."""

    transaction: bool
    reason: str


class Guard:
    """The authorizer callback of one D1 connection.

    ``trusted`` is set while cfemu runs its own statements (transaction control, size
    queries); everything is allowed then. Every cfemu statement text carries a random
    tag, so a user statement can never reuse one of cfemu's compiled statements.

    ``compiles`` counts the calls: SQLite calls the authorizer while it compiles a
    statement, including when it compiles a cached statement again because the schema
    changed (here or in another connection), and a statement that returns rows makes at
    least one call (``SQLITE_SELECT``, ``SQLITE_PRAGMA``). So while ``compiles`` stays the
    same, every compiled statement is unchanged, its result columns included.
    """

    __slots__ = ("compiles", "denial", "trusted", "trusted_thread")

    def __init__(self) -> None:
        self.compiles = 0
        self.trusted = False
        #: A worker thread running cfemu's own work (``dump()``): trusted on that thread only.
        self.trusted_thread: int | None = None
        self.denial: Denial | None = None

    def _deny(self, reason: str, *, transaction: bool = False) -> int:
        self.denial = Denial(transaction, reason)
        return _DENY

    def __call__(
        self,
        action: int,
        arg1: str | None,
        arg2: str | None,
        dbname: str | None,
        source: str | None,
    ) -> int:
        self.compiles += 1
        if self.trusted or (
            self.trusted_thread is not None and self.trusted_thread == threading.get_ident()
        ):
            return _OK
        if action in _NAME_ACTIONS:
            if dbname == "temp" and action not in (sqlite3.SQLITE_READ, sqlite3.SQLITE_UPDATE):
                return self._deny("D1 does not support TEMP tables, views, indexes or triggers")
            if dbname not in (None, "main", "temp"):
                return self._deny(f"D1 has a single database, 'main' (not {dbname!r})")
            if _reserved(arg1):
                return self._deny(f"names starting with '_cf_' are reserved by Cloudflare ({arg1})")
            if action == sqlite3.SQLITE_READ and (arg1 or "").lower() in _INTERNAL_TABLES:
                return self._deny(f"D1 does not support the virtual table {arg1}")
            return _OK
        if action == sqlite3.SQLITE_SELECT or action == sqlite3.SQLITE_RECURSIVE:
            return _OK
        if action == sqlite3.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            if name in ALLOWED_FUNCTIONS:
                return _OK
            return self._deny(f"D1 does not allow the SQL function {name}()")
        if action == sqlite3.SQLITE_PRAGMA:
            return self._pragma((arg1 or "").lower(), arg2, dbname)
        if action in _TWO_NAME_ACTIONS:
            if dbname not in (None, "main"):
                return self._deny("D1 does not support TEMP tables, views, indexes or triggers")
            if _reserved(arg1) or _reserved(arg2):
                which = arg1 if _reserved(arg1) else arg2
                return self._deny(
                    f"names starting with '_cf_' are reserved by Cloudflare ({which})"
                )
            return _OK
        if action == sqlite3.SQLITE_ALTER_TABLE:
            # SQLite passes the schema as arg1 and the table as arg2 here.
            if _reserved(arg2):
                return self._deny(f"names starting with '_cf_' are reserved by Cloudflare ({arg2})")
            return _OK
        if action == sqlite3.SQLITE_ANALYZE:
            return _OK
        if action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
            return self._deny(
                "D1 runs every query and every batch() in its own transaction; use "
                "DB.batch([...]) to run several statements atomically",
                transaction=True,
            )
        if action in (sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE):
            module = (arg2 or "").lower()
            if module in ALLOWED_VTABLE_MODULES:
                return _OK
            return self._deny("D1 supports only the fts5, fts5vocab and rtree virtual tables")
        if action in _TEMP_ACTIONS:
            return self._deny("D1 does not support TEMP tables, views, indexes or triggers")
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            return self._deny("D1 does not support ATTACH or DETACH")
        return self._deny(f"D1 does not allow this operation (SQLite authorizer action {action})")

    def _pragma(self, name: str, value: str | None, dbname: str | None) -> int:
        if dbname not in (None, "main"):
            return self._deny(f"D1 has a single database, 'main' (not {dbname!r})")
        if name not in ALLOWED_PRAGMAS:
            return self._deny(f"PRAGMA {name} is not in D1's PRAGMA allowlist")
        if value is None:
            if name in _OBJECT_PRAGMAS:
                return self._deny(f"PRAGMA {name} needs a table or index name")
            return _OK
        if name in _READ_ONLY_PRAGMAS:
            return self._deny(f"D1 allows reading PRAGMA {name} but not setting it")
        if name in BOOLEAN_PRAGMAS:
            word = value.strip("'\"").lower()
            if word in _BOOLEAN_WORDS:
                return _OK
            return self._deny(f"PRAGMA {name} takes a boolean, not {value}")
        if name == "optimize":
            if value.lstrip("-").isdigit():
                return _OK
            return self._deny("PRAGMA optimize takes a numeric mask")
        if name == "quick_check" and value.isdigit():
            return _OK
        if _reserved(value):
            return self._deny(f"names starting with '_cf_' are reserved by Cloudflare ({value})")
        return _OK
