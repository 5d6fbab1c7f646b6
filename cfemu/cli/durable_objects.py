"""``cfemu durable-objects ...``: list the objects of a namespace and show their storage.

``list`` prints, for each Durable Object binding of the config (or only ``--binding``),
the objects that have storage in the state folder: id, name (when an alarm recorded it),
size and alarm. ``show`` prints one object's key-value pairs, SQL tables (columns and row
counts) and alarm. Both only read the SQLite files (read-only, so they can run beside
``cfemu dev``).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfemu.cli._common import state_options
from cfemu.errors import CfemuError, ConfigError

if TYPE_CHECKING:
    from cfemu.config import DurableObjectBindingConfig, WorkerConfig

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``durable-objects`` command group to the ``cfemu`` parser."""
    group = subparsers.add_parser(
        "durable-objects",
        aliases=["do"],
        help="inspect the local Durable Objects of a wrangler config",
        description="List Durable Objects and show their storage from the state folder.",
    )
    group.set_defaults(parser=group)
    commands = group.add_subparsers(dest="do_command", metavar="COMMAND")
    common = state_options()
    common.add_argument("--binding", help="the Durable Object binding name in the config")

    listing = commands.add_parser("list", parents=[common], help="objects with storage, JSON")
    listing.set_defaults(handler=_list)
    show = commands.add_parser("show", parents=[common], help="one object's storage, JSON")
    which = show.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", help="the object's name (idFromName)")
    which.add_argument("--id", help="the object's id (64 hex digits)")
    show.add_argument("--limit", type=int, default=100, help="at most this many keys")
    show.set_defaults(handler=_show)


def _config(args: argparse.Namespace) -> WorkerConfig:
    from cfemu.config import find_config, load_config

    path = Path(args.config) if args.config else find_config()
    return load_config(path, environment=args.env)


def _state(args: argparse.Namespace, config: WorkerConfig) -> Path:
    from cfemu.state import default_state_folder

    return Path(args.persist_to) if args.persist_to else default_state_folder(config.path)


def _bindings(args: argparse.Namespace, config: WorkerConfig) -> list[DurableObjectBindingConfig]:
    bindings = config.durable_object_bindings
    if args.binding:
        bindings = [b for b in bindings if b.name == args.binding]
        if not bindings:
            known = ", ".join(b.name for b in config.durable_object_bindings) or "none"
            raise ConfigError(
                f"no Durable Object binding named {args.binding!r}; bindings: {known}",
                file=config.path,
                key_path="durable_objects.bindings",
            )
    return bindings


def _label(config: WorkerConfig, binding: DurableObjectBindingConfig) -> str:
    return f"{binding.script_name or config.name}-{binding.class_name}"


def _open(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise CfemuError(f"cannot open {path}: {exc}") from exc


def _meta(conn: sqlite3.Connection, key: str) -> Any:
    try:
        rows = conn.execute("SELECT value FROM _cf_METADATA WHERE key = ?", (key,)).fetchall()
    except sqlite3.OperationalError:
        return None
    return rows[0][0] if rows else None


def _summary(path: Path) -> dict[str, Any]:
    conn = _open(path)
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        return {
            "id": path.stem,
            "name": _meta(conn, "name"),
            "size": max(pages, 1) * size,
            "alarm": _meta(conn, "alarm"),
        }
    finally:
        conn.close()


def _list(args: argparse.Namespace) -> int:
    from cfemu.durable_objects.hub import namespace_folder

    config = _config(args)
    state = _state(args, config)
    rows = []
    for binding in _bindings(args, config):
        folder = namespace_folder(state, _label(config, binding))
        files = sorted(folder.glob("*.sqlite")) if folder.is_dir() else []
        objects = [_summary(f) for f in files]
        rows.append({"binding": binding.name, "class": binding.class_name, "objects": objects})
    print(json.dumps(rows, indent=2, ensure_ascii=False))
    return 0


def _show(args: argparse.Namespace) -> int:
    from cfemu.durable_objects.hub import namespace_folder
    from cfemu.durable_objects.ids import IdFactory
    from cfemu.durable_objects.values import decode

    config = _config(args)
    bindings = _bindings(args, config)
    if len(bindings) != 1:
        raise CfemuError("this config has several Durable Object bindings: pass --binding")
    label = _label(config, bindings[0])
    ids = IdFactory(label)
    object_id = ids.from_name(args.name) if args.name else ids.from_string(args.id)
    path = namespace_folder(_state(args, config), label) / f"{object_id.toString()}.sqlite"
    if not path.is_file():
        raise CfemuError(f"the object {object_id.toString()} has no storage ({path})")
    conn = _open(path)
    try:
        keys: dict[str, Any] = {}
        try:
            for key, value in conn.execute(
                "SELECT key, value FROM _cf_KV ORDER BY key LIMIT ?", (args.limit,)
            ):
                keys[key.decode("utf-8", "surrogatepass")] = decode(value)
        except sqlite3.OperationalError:
            pass  # no key-value data yet
        tables = {}
        names = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' "
            "ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        ).fetchall()
        for (name,) in names:
            quoted = '"' + name.replace('"', '""') + '"'
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({quoted})")]
            count = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
            tables[name] = {"columns": columns, "rows": count}
        out = {
            "id": object_id.toString(),
            "name": args.name or _meta(conn, "name"),
            "alarm": _meta(conn, "alarm"),
            "keys": keys,
            "tables": tables,
        }
    finally:
        conn.close()
    print(json.dumps(out, indent=2, ensure_ascii=False, default=_json_default))
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, memoryview | bytes):
        return bytes(value).hex()
    if isinstance(value, set):
        return sorted(value, key=repr)
    return str(value)
