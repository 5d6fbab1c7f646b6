"""``cfemu d1 ...``: migrations, execute and export against the local D1 databases.

The commands mirror ``wrangler d1`` in local mode (spec: d1.md §8, §9). ``DB`` is a binding
name or a ``database_name`` from the wrangler config; the database is the persisted file
``<persist-to>/d1/<storage key>.sqlite`` that ``cfemu dev`` and the emulator use.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfemu.cli._common import run_async, state_options
from cfemu.errors import CfemuError, ConfigError, MigrationError

if TYPE_CHECKING:
    from cfemu.d1 import D1Database

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``d1`` command group to the ``cfemu`` parser."""
    d1 = subparsers.add_parser(
        "d1",
        help="manage local D1 databases: migrations, execute, export (like wrangler d1)",
        description="Work with the local D1 databases of a wrangler config.",
    )
    d1.set_defaults(parser=d1)
    commands = d1.add_subparsers(dest="d1_command", metavar="COMMAND")

    common = state_options()
    common.add_argument("--local", action="store_true", help="use the local database (default)")
    common.add_argument(
        "--remote",
        action="store_true",
        help="d1 execute only: run on Cloudflare through its REST API (CLOUDFLARE_ACCOUNT_ID, "
        "CLOUDFLARE_API_TOKEN, CLOUDFLARE_API_BASE_URL)",
    )

    migrations = commands.add_parser(
        "migrations", help="create, list and apply migrations", description="D1 migrations."
    )
    migrations.set_defaults(parser=migrations)
    steps = migrations.add_subparsers(dest="migrations_command", metavar="COMMAND")
    create = steps.add_parser(
        "create", parents=[common], help="create the next numbered migration file"
    )
    create.add_argument("database", metavar="DB", help="binding or database_name")
    create.add_argument("message", help="what the migration does (becomes its file name)")
    create.set_defaults(handler=_migrations_create)
    listing = steps.add_parser("list", parents=[common], help="list migrations not yet applied")
    listing.add_argument("database", metavar="DB", help="binding or database_name")
    listing.set_defaults(handler=_migrations_list)
    apply = steps.add_parser("apply", parents=[common], help="apply pending migrations")
    apply.add_argument("database", metavar="DB", help="binding or database_name")
    apply.add_argument("-y", "--yes", action="store_true", help="do not ask (cfemu never asks)")
    apply.add_argument(
        "--force", action="store_true", help="apply without a prompt (cfemu never prompts)"
    )
    apply.set_defaults(handler=_migrations_apply)

    execute = commands.add_parser(
        "execute", parents=[common], help="run SQL (one atomic batch) against a local database"
    )
    execute.add_argument("database", metavar="DB", help="binding or database_name")
    execute.add_argument("--command", help="SQL to run (statements separated by ';')")
    execute.add_argument("--file", type=Path, help="a .sql file to run")
    execute.add_argument("--json", action="store_true", help="print the results as JSON")
    execute.add_argument("-y", "--yes", action="store_true", help="do not ask (cfemu never asks)")
    execute.set_defaults(handler=_execute)

    export = commands.add_parser("export", parents=[common], help="export a local database as SQL")
    export.add_argument("database", metavar="DB", help="binding or database_name")
    export.add_argument("--output", type=Path, required=True, help="the .sql file to write")
    export.add_argument("--table", action="append", default=[], help="only this table (repeat)")
    export.add_argument("--no-schema", action="store_true", help="rows only")
    export.add_argument("--no-data", action="store_true", help="schema only")
    export.set_defaults(handler=_export)


@dataclass(frozen=True)
class _Target:
    """The database a command works on."""

    name: str
    storage_key: str
    file: Path
    migrations_dir: Path
    migrations_table: str
    migrations_pattern: str
    folder: Path

    def open(self) -> D1Database:
        """Check the state folder (format, damage) and open the database in it."""
        from cfemu.d1 import open_database
        from cfemu.state import check_state_folder, opening_state

        check_state_folder(self.folder, create=True)
        with opening_state(self.file, f"D1 database {self.name!r}"):
            return open_database(self.file, binding=self.name)

    def close(self, db: D1Database) -> None:
        """Close the database and record its file in the folder's marker."""
        from cfemu.state import record_state_files

        db.close()
        record_state_files(self.folder)


def _target(args: argparse.Namespace) -> _Target:
    from cfemu.config import find_config, load_config
    from cfemu.d1 import database_file
    from cfemu.state import default_state_folder

    if args.remote:
        raise CfemuError("--remote is supported by `cfemu d1 execute` only")
    path = Path(args.config) if args.config else find_config()
    config = load_config(path, environment=args.env)
    wanted: str = args.database
    for entry in config.d1_databases:
        if wanted in (entry.binding, entry.database_name):
            base = Path(config.path).parent
            persist_to = args.persist_to or default_state_folder(config.path)
            return _Target(
                name=wanted,
                storage_key=entry.storage_key,
                file=database_file(persist_to, entry.storage_key),
                migrations_dir=entry.migrations_path(base),
                migrations_table=entry.migrations_table,
                migrations_pattern=entry.migrations_glob(),
                folder=Path(persist_to),
            )
    raise ConfigError(
        f"Couldn't find a D1 DB with the name or binding '{wanted}' in your wrangler config",
        file=config.path,
        key_path="d1_databases",
    )


def _migrations_create(args: argparse.Namespace) -> int:
    from cfemu.d1 import create_migration

    target = _target(args)
    path = create_migration(target.migrations_dir, args.message, pattern=target.migrations_pattern)
    print(f"✅ Successfully created Migration '{path.name}'!")
    print(f"The migration is available for editing here: {path}")
    return 0


def _migrations_list(args: argparse.Namespace) -> int:
    from cfemu.d1 import pending_migrations

    target = _target(args)
    db = target.open()
    try:
        pending = run_async(
            pending_migrations(
                db,
                target.migrations_dir,
                table=target.migrations_table,
                pattern=target.migrations_pattern,
            )
        )
    finally:
        target.close(db)
    if not pending:
        print("✅ No migrations to apply!")
        return 0
    print("Migrations to be applied:")
    print(_table(["name"], [[name] for name in pending]))
    return 0


#: wrangler's statuses in the progress table of ``migrations apply``.
_PENDING, _APPLIED, _FAILED = "🕒️", "✅", "❌"


def _migrations_apply(args: argparse.Namespace) -> int:
    from cfemu.d1 import apply_migrations, pending_migrations

    target = _target(args)
    db = target.open()
    try:
        pending = run_async(
            pending_migrations(
                db,
                target.migrations_dir,
                table=target.migrations_table,
                pattern=target.migrations_pattern,
            )
        )
        if not pending:
            print("✅ No migrations to apply!")
            return 0
        # As wrangler: the list, then the whole table again after each migration, its
        # status going from 🕒️ to ✅ (or ❌, and the error).
        print("Migrations to be applied:")
        print(_table(["name"], [[name] for name in pending]))
        if args.force:
            print(f"--force passed, applying {len(pending)} migration(s) without prompt")
        print(f"🌀 Executing on local database {target.name} ({target.file}):")
        status = dict.fromkeys(pending, _PENDING)

        def show(name: str, mark: str) -> None:
            status[name] = mark
            print(_table(["name", "status"], [[n, s] for n, s in status.items()]))

        try:
            run_async(
                apply_migrations(
                    db,
                    target.migrations_dir,
                    table=target.migrations_table,
                    pattern=target.migrations_pattern,
                    on_applied=lambda name: show(name, _APPLIED),
                )
            )
        except MigrationError as exc:
            if exc.migration is not None:
                show(exc.migration, _FAILED)
            raise
    finally:
        target.close(db)
    return 0


def _execute(args: argparse.Namespace) -> int:
    from cfemu.d1._sql import split_statements

    if args.command is not None and args.file is not None:
        raise CfemuError("can't provide both --command and --file.")
    if args.command is None and args.file is None:
        raise CfemuError("must provide --command or --file.")
    if args.file is not None:
        try:
            sql = Path(args.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CfemuError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    else:
        sql = args.command
    statements = split_statements(sql)
    if args.remote:
        results = run_async(_execute_remote(args, statements))
    else:
        target = _target(args)
        db = target.open()
        try:
            if not args.json:
                print(f"🌀 Executing on local database {target.name} ({target.storage_key}) ...")
            results = run_async(db.batch([db.prepare(s) for s in statements]))
        finally:
            target.close(db)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return 0
    print(
        f"🚣 {len(statements)} command{'s' if len(statements) != 1 else ''} executed successfully."
    )
    for result in results:
        rows: list[dict[str, Any]] = result["results"]
        if rows:
            columns = list(rows[0])
            print(_table(columns, [[row.get(c) for c in columns] for row in rows]))
    return 0


async def _execute_remote(args: argparse.Namespace, statements: list[str]) -> list[Any]:
    """Run ``statements`` as one batch on the database in Cloudflare's account."""
    from cfemu.config import find_config, load_config
    from cfemu.remote.client import remote_api_from_env
    from cfemu.remote.d1 import RemoteD1Database

    path = Path(args.config) if args.config else find_config()
    config = load_config(path, environment=args.env)
    wanted: str = args.database
    entry = next((e for e in config.d1_databases if wanted in (e.binding, e.database_name)), None)
    if entry is None:
        raise ConfigError(
            f"Couldn't find a D1 DB with the name or binding '{wanted}' in your wrangler config",
            file=config.path,
            key_path="d1_databases",
        )
    ident = entry.database_id or entry.database_name or entry.binding
    api = remote_api_from_env("`cfemu d1 execute --remote` runs on Cloudflare")
    try:
        db = RemoteD1Database(api, ident, entry.binding)
        if not args.json:
            print(f"🌀 Executing on remote database {wanted} ({ident}) at {api.base_url} ...")
        return await db.batch([db.prepare(s) for s in statements])
    finally:
        await api.aclose()


def _export(args: argparse.Namespace) -> int:
    from cfemu.d1.export import export_sql

    if args.no_schema and args.no_data:
        raise CfemuError("can't export with both --no-schema and --no-data.")
    target = _target(args)
    if not target.file.exists():
        raise CfemuError(f"no local database for {target.name} yet ({target.file})")
    db = target.open()
    try:
        statements = export_sql(
            db, schema=not args.no_schema, data=not args.no_data, tables=args.table
        )  # refuses (a virtual table) before the output file is created
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8", newline="\n") as out:
            for statement in statements:
                out.write(statement + "\n")
    finally:
        target.close(db)
    print(f"🌀 Exported {target.name} to {output}")
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide characters (✅, ❌, 🕒, CJK) take two; marks
    and format characters (combining accents, the emoji variation selector) none."""
    import unicodedata

    return sum(
        0
        if unicodedata.category(ch) in ("Mn", "Me", "Cf")
        else 2
        if unicodedata.east_asian_width(ch) in "WF"
        else 1
        for ch in text
    )


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A box-drawn table, as wrangler prints query results."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [
        max([_display_width(c), *(_display_width(r[i]) for r in cells)])
        for i, c in enumerate(columns)
    ]

    def line(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right

    def row(values: Sequence[str]) -> str:
        padded = (
            f" {v}{' ' * (w - _display_width(v))} " for v, w in zip(values, widths, strict=True)
        )
        return "│" + "│".join(padded) + "│"

    out = [line("┌", "┬", "┐"), row(list(columns)), line("├", "┼", "┤")]
    out += [row(r) for r in cells]
    out.append(line("└", "┴", "┘"))
    return "\n".join(out)
