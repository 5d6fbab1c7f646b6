"""Hypothesis strategies: valid wrangler configs over every supported key, and invalid values
per key path."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from hypothesis import strategies as st

from cfemu import limits

# Text that TOML, JSON and Python all carry unchanged (no lone surrogates).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
TRICKY_TEXT = st.one_of(
    TEXT,
    st.sampled_from(["http://x.example/a//b", "/* not a comment */", "a,]", '"quoted"', "#x"]),
)
WORKER_NAMES = st.from_regex(r"[a-z0-9_][a-z0-9_-]{0,15}", fullmatch=True)
QUEUE_NAMES = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
BINDING_NAMES = st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)

#: JSON values without null (TOML has no null).
JSON_VALUES = st.recursive(
    st.one_of(st.booleans(), INT64, FLOATS, TRICKY_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)


def _maybe(
    draw: st.DrawFn, out: dict[str, Any], key: str, strategy: st.SearchStrategy[Any]
) -> None:
    if draw(st.booleans()):
        out[key] = draw(strategy)


def _int_in(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=lo, max_value=hi)


@st.composite
def valid_configs(draw: st.DrawFn, *, with_dev: bool = True) -> dict[str, Any]:
    """A config dict that loads without error or warning, using every supported key."""
    bindings = iter(draw(st.lists(BINDING_NAMES, min_size=12, max_size=12, unique=True)))
    cfg: dict[str, Any] = {}
    _maybe(draw, cfg, "name", WORKER_NAMES)
    _maybe(draw, cfg, "main", st.sampled_from(["src/entry.py", "worker.py", "a/b/c.py"]))
    _maybe(
        draw,
        cfg,
        "compatibility_date",
        st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)).map(dt.date.isoformat),
    )
    _maybe(draw, cfg, "compatibility_flags", st.lists(TEXT, max_size=3))
    if draw(st.booleans()):
        n = draw(st.integers(0, 3))
        cfg["vars"] = {next(bindings): draw(st.one_of(TRICKY_TEXT, JSON_VALUES)) for _ in range(n)}
    if draw(st.booleans()):
        cfg["secrets"] = {"required": draw(st.lists(BINDING_NAMES, max_size=2))}
    if draw(st.booleans()):
        dbs = []
        for _ in range(draw(st.integers(0, 2))):
            db: dict[str, Any] = {"binding": next(bindings)}
            for key in ("database_name", "database_id", "preview_database_id"):
                _maybe(draw, db, key, TRICKY_TEXT)
            _maybe(draw, db, "migrations_dir", st.sampled_from(["migrations", "db/m", "./x"]))
            _maybe(draw, db, "migrations_table", st.sampled_from(["d1_migrations", "m"]))
            dbs.append(db)
        cfg["d1_databases"] = dbs
    if draw(st.booleans()):
        queues: dict[str, Any] = {}
        if draw(st.booleans()):
            producers = []
            for _ in range(draw(st.integers(0, 2))):
                p: dict[str, Any] = {"binding": next(bindings), "queue": draw(QUEUE_NAMES)}
                _maybe(draw, p, "delivery_delay", _int_in(0, limits.MAX_DELAY_SECONDS))
                producers.append(p)
            queues["producers"] = producers
        if draw(st.booleans()):
            consumers = []
            names = draw(st.lists(QUEUE_NAMES, max_size=2, unique=True))
            for q in names:
                c: dict[str, Any] = {"queue": q}
                _maybe(draw, c, "type", st.just("worker"))
                _maybe(draw, c, "max_batch_size", _int_in(1, 100))
                _maybe(draw, c, "max_batch_timeout", st.one_of(_int_in(0, 60), st.floats(0, 60)))
                _maybe(draw, c, "max_retries", _int_in(0, 100))
                _maybe(draw, c, "dead_letter_queue", QUEUE_NAMES.filter(lambda d, q=q: d != q))
                _maybe(draw, c, "max_concurrency", _int_in(1, 250))
                _maybe(draw, c, "retry_delay", _int_in(0, limits.MAX_DELAY_SECONDS))
                _maybe(draw, c, "visibility_timeout_ms", _int_in(0, 43_200_000))
                consumers.append(c)
            queues["consumers"] = consumers
        cfg["queues"] = queues
    if draw(st.booleans()):
        cfg["ai"] = {"binding": next(bindings)}
    if draw(st.booleans()):
        cfg["triggers"] = {"crons": draw(st.lists(st.sampled_from(["* * * * *", "*/5 1 * * MON"])))}
    if with_dev and draw(st.booleans()):
        dev: dict[str, Any] = {}
        _maybe(draw, dev, "ip", st.sampled_from(["127.0.0.1", "0.0.0.0", "localhost"]))
        _maybe(draw, dev, "port", _int_in(0, 65535))
        cfg["dev"] = dev
    return cfg


#: Invalid values per field, keyed by the field's path with list indexes dropped.
INVALID: dict[tuple[str, ...], list[Any]] = {
    ("name",): [5, "Has Upper", "with space", "a.b", True],
    ("main",): [5, [], True],
    ("compatibility_date",): [
        "2024-13-01",
        "2024-02-30",
        "yesterday",
        20240101,
        dt.date(2024, 1, 1),
    ],
    ("compatibility_flags",): ["python_workers", [1], {"a": "b"}],
    ("vars",): ["x", [1], 3],
    ("secrets",): ["x", []],
    ("secrets", "required"): ["X", [1]],
    ("d1_databases",): [{"binding": "DB"}, "DB"],
    ("d1_databases", "binding"): [1, "", "  ", []],
    ("d1_databases", "database_name"): [5, False],
    ("d1_databases", "database_id"): [5, []],
    ("d1_databases", "preview_database_id"): [1.5],
    ("d1_databases", "migrations_dir"): [False, 3],
    ("d1_databases", "migrations_table"): [{}],
    ("queues",): [5, "q", []],
    ("queues", "producers"): ["x", {"binding": "Q"}],
    ("queues", "consumers"): ["x", 1],
    ("queues", "producers", "binding"): ["", 7],
    ("queues", "producers", "queue"): ["Bad_Name", "-bad", "bad-", "x" * 64, 7, ""],
    ("queues", "producers", "delivery_delay"): [-1, 43_201, "10", 1.5, True],
    ("queues", "consumers", "queue"): ["UPPER", 3, "a_b"],
    ("queues", "consumers", "type"): ["http_pull", 1, "Worker"],
    ("queues", "consumers", "max_batch_size"): [0, 101, 500, "ten", 2.5, True, [10]],
    ("queues", "consumers", "max_batch_timeout"): [-1, 60.5, 61, "5", False],
    ("queues", "consumers", "max_retries"): [-1, 101, "3", 0.5],
    ("queues", "consumers", "dead_letter_queue"): ["DLQ", 3, "a b"],
    ("queues", "consumers", "max_concurrency"): [0, 251, "1"],
    ("queues", "consumers", "retry_delay"): [-5, 43_201, "0"],
    ("queues", "consumers", "visibility_timeout_ms"): [-1, 43_200_001, "1"],
    ("ai",): ["AI", [], 1],
    ("ai", "binding"): [3, "", {}],
    ("triggers",): ["* * * * *", 1],
    ("triggers", "crons"): ["* * * * *", [1], [True], ["61 * * * *"], ["0 0 31 4 *"]],
    ("dev",): [1, "x"],
    ("dev", "ip"): [1, []],
    ("dev", "port"): [70_000, -1, "8787", 1.5],
}


#: A minimal valid item for each list, used when a mutation targets an item that is absent.
_FILLERS: dict[tuple[str, ...], dict[str, Any]] = {
    ("d1_databases",): {"binding": "zz_db"},
    ("queues", "producers"): {"binding": "zz_queue", "queue": "zz-produced"},
    ("queues", "consumers"): {"queue": "zz-consumed"},
}
_LISTS = set(_FILLERS)


@st.composite
def invalid_mutations(
    draw: st.DrawFn, cfg: dict[str, Any], *, allow_dev: bool = True
) -> tuple[dict[str, Any], tuple[str | int, ...], Any]:
    """Put one invalid value somewhere in ``cfg``: returns the new config, the concrete
    location (with list indexes) and the value."""
    specs = [s for s in INVALID if allow_dev or s[0] != "dev"]
    spec = draw(st.sampled_from(specs))
    value = draw(st.sampled_from(INVALID[spec]))
    out = copy.deepcopy(cfg)
    node: Any = out
    loc: list[str | int] = []
    for depth, key in enumerate(spec[:-1]):
        prefix = spec[: depth + 1]
        if prefix in _LISTS:
            items = node.get(key)
            if not isinstance(items, list) or not items:
                node[key] = items = [copy.deepcopy(_FILLERS[prefix])]
            index = draw(st.integers(0, len(items) - 1))
            loc += [key, index]
            node = items[index]
        else:
            child = node.get(key)
            if not isinstance(child, dict):
                node[key] = child = {"binding": "zz_ai"} if prefix == ("ai",) else {}
            loc.append(key)
            node = child
    node[spec[-1]] = value
    loc.append(spec[-1])
    return out, tuple(loc), value
