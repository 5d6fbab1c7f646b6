"""``cfemu workflows ...``: the local Workflows' instances, in ``wrangler workflows`` verbs.

``list``, ``describe NAME``, ``trigger NAME [PARAMS]``, ``instances list NAME``,
``instances describe NAME [ID]`` (the step history as wrangler prints it), ``instances
terminate|pause|resume|restart NAME ID``, ``instances send-event NAME ID --type T``,
``instances delete NAME ID...`` and ``instances terminate-all NAME``. The
state is ``<persist-to>/workflows.sqlite``, the file ``cfemu dev`` and
``Emulator(persist_to=...)`` keep instances in.

Reading commands open it read-only, so they work beside a running ``cfemu dev``. Writing
commands change the stored state and take the folder's lock: while a ``cfemu dev`` holds it
they refuse (its instances run in its memory); with ``--local [--port N]`` every command
goes through that ``cfemu dev`` instead, as ``wrangler workflows ... --local`` does
(:mod:`cfemu.cli.workflows_local`).
What they write runs when an emulator next starts on the folder: a triggered instance is
``queued`` until then, as is a resumed or restarted one. ``ID`` may be ``latest``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfemu.cli._common import state_options
from cfemu.cli.workflows_render import (
    STATUSES,
    describe_text,
    emojify_status,
    local_time,
    warn,
)
from cfemu.errors import CfemuError

if TYPE_CHECKING:
    from cfemu.config import WorkerConfig
    from cfemu.workflows.store import WorkflowStore

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``workflows`` command group to the ``cfemu`` parser."""
    group = subparsers.add_parser(
        "workflows",
        help="local Workflows and their instances (like wrangler workflows)",
        description="List, trigger and manage the local Workflow instances of a config.",
    )
    group.set_defaults(parser=group)
    commands = group.add_subparsers(dest="workflows_command", metavar="COMMAND")
    common = state_options()
    common.add_argument("--json", action="store_true", help="print JSON")
    common.add_argument(
        "--local", action="store_true", help="go through the running cfemu dev on --port"
    )
    common.add_argument(
        "--port", type=int, default=8787, help="the cfemu dev's port, with --local (8787)"
    )

    listing = commands.add_parser("list", parents=[common], help="the config's Workflows")
    listing.set_defaults(handler=_routed(_list))
    describe = commands.add_parser(
        "describe", parents=[common], help="one Workflow and its instances per status"
    )
    describe.add_argument("name", help="name of the workflow")
    describe.set_defaults(handler=_routed(_describe_workflow))
    trigger = commands.add_parser(
        "trigger", parents=[common], help="create an instance (it runs when the emulator runs)"
    )
    trigger.add_argument("name", help="name of the workflow")
    trigger.add_argument("params", nargs="?", default="", help="params, a JSON string")
    trigger.add_argument("--id", help="the instance id (default: a random UUID)")

    instances = commands.add_parser("instances", help="instance commands")
    instances.set_defaults(parser=instances)
    verbs = instances.add_subparsers(dest="instances_command", metavar="COMMAND")
    inst_list = verbs.add_parser("list", parents=[common], help="a Workflow's instances")
    inst_list.add_argument("name", help="name of the workflow")
    inst_list.add_argument("--reverse", action="store_true", help="oldest first")
    inst_list.add_argument("--status", help="only instances with this status")
    inst_list.add_argument("--page", type=int, default=1, help="page number (default 1)")
    inst_list.add_argument("--per-page", type=int, help="instances per page (default: all)")
    inst_list.set_defaults(handler=_routed(_instances_list))
    inst_describe = verbs.add_parser(
        "describe", parents=[common], help="an instance: status, steps, attempts, errors"
    )
    inst_describe.add_argument("name", help="name of the workflow")
    inst_describe.add_argument("id", nargs="?", default="latest", help="instance id or latest")
    inst_describe.add_argument(
        "--step-output",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show each step's output (default: yes)",
    )
    inst_describe.add_argument(
        "--truncate-output-limit", type=int, default=5000, help="cut outputs after N characters"
    )
    inst_describe.set_defaults(handler=_routed(_instances_describe))
    from cfemu.cli import workflows_write as write

    trigger.set_defaults(handler=_routed(write.trigger))
    for verb in ("terminate", "pause", "resume", "restart"):
        command = verbs.add_parser(verb, parents=[common], help=f"{verb} an instance")
        command.add_argument("name", help="name of the workflow")
        command.add_argument("id", help="instance id or latest")
        if verb == "restart":
            command.add_argument("--from-step-name", help="name of the step to restart from")
            command.add_argument(
                "--from-step-count", type=int, help="1-based occurrence of that name (default 1)"
            )
            command.add_argument(
                "--from-step-type",
                choices=("do", "sleep", "waitForEvent"),
                help="the step's type (default do)",
            )
        command.set_defaults(handler=_routed(write.change_status), verb=verb)
    delete = verbs.add_parser("delete", parents=[common], help="delete instances (at most 100)")
    delete.add_argument("name", help="name of the workflow")
    delete.add_argument("id", nargs="*", default=[], help="instance ids (or latest)")
    delete.add_argument("--filename", type=Path, help="a JSON file holding an array of ids")
    delete.set_defaults(handler=_routed(write.delete))
    terminate_all = verbs.add_parser(
        "terminate-all", parents=[common], help="terminate every unfinished instance"
    )
    terminate_all.add_argument("name", help="name of the workflow")
    terminate_all.add_argument("--status", help="only the instances with this status")
    terminate_all.set_defaults(handler=_routed(write.terminate_all))
    send = verbs.add_parser("send-event", parents=[common], help="send an event to an instance")
    send.add_argument("name", help="name of the workflow")
    send.add_argument("id", help="instance id or latest")
    send.add_argument("--type", required=True, help="the event's type")
    send.add_argument("--payload", default="{}", help="the event's payload, a JSON string")
    send.set_defaults(handler=_routed(write.send_event))


def _routed(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``handler`` on the state folder, or through a running ``cfemu dev`` with ``--local``."""

    def run(args: argparse.Namespace) -> int:
        if args.local:
            from cfemu.cli.workflows_local import run_local

            return run_local(args, handler.__name__)
        return handler(args)

    return run


@dataclass
class _Context:
    """The config (when found) and the state folder."""

    folder: Path
    config: WorkerConfig | None

    @property
    def state_file(self) -> Path:
        from cfemu.workflows.store import store_file

        return store_file(self.folder)

    def configured(self) -> dict[str, tuple[str, str]]:
        """``{name: (script_name, class_name)}`` of the config's Workflows."""
        if self.config is None:
            return {}
        return {
            w.name: (w.script_name or self.config.name, w.class_name) for w in self.config.workflows
        }


def _context(args: argparse.Namespace) -> _Context:
    from cfemu.config import find_config, load_config
    from cfemu.errors import ConfigError
    from cfemu.state import default_state_folder

    try:
        path = Path(args.config) if args.config else find_config()
    except ConfigError:
        if args.persist_to is None:
            raise
        return _Context(Path(args.persist_to), None)
    config = load_config(path, environment=args.env)
    folder = Path(args.persist_to) if args.persist_to else default_state_folder(config.path)
    return _Context(folder, config)


@contextmanager
def _reading(ctx: _Context) -> Iterator[WorkflowStore | None]:
    """The store, read-only (``None`` when no instance was ever recorded)."""
    from cfemu.state import check_state_folder, opening_state
    from cfemu.workflows.store import WorkflowStore

    check_state_folder(ctx.folder, create=False)
    if not ctx.state_file.exists():
        yield None
        return
    with opening_state(ctx.state_file, "Workflow instances"):
        store = WorkflowStore(ctx.state_file, read_only=True)
    try:
        yield store
    finally:
        store.close()


def _known(ctx: _Context, name: str, store: WorkflowStore | None, *, run: bool) -> None:
    """Refuse a Workflow the config does not have (or, to read, the state does not)."""
    names = set(ctx.configured())
    if not run and store is not None:
        names |= {row.workflow for row in store.instances()}
    if name not in names:
        known = ", ".join(sorted(names)) or "none"
        where = "the config" if run else "the config or the state"
        raise CfemuError(f'Workflow "{name}" is not in {where}; Workflows: {known}')


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _list(args: argparse.Namespace) -> int:
    from cfemu.cli.d1 import _table

    ctx = _context(args)
    rows: list[dict[str, str | None]] = [
        {"name": name, "script_name": script, "class_name": cls}
        for name, (script, cls) in ctx.configured().items()
    ]
    with _reading(ctx) as store:  # and those only the state has (a config changed since)
        stored = [] if store is None else store.instances()
    for name in dict.fromkeys(row.workflow for row in stored):
        if name not in ctx.configured():
            rows.append({"name": name, "script_name": None, "class_name": None})
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        warn("There are no Workflows in this config or its state")
        return 0
    print(f"Showing {len(rows)} workflow{'s' if len(rows) > 1 else ''}:")
    print(
        _table(
            ["Name", "Script name", "Class name"],
            [[r["name"], r["script_name"] or "-", r["class_name"] or "-"] for r in rows],
        )
    )
    return 0


def _describe_workflow(args: argparse.Namespace) -> int:
    from cfemu.cli.workflows_render import labelled

    ctx = _context(args)
    with _reading(ctx) as store:
        _known(ctx, args.name, store, run=False)
        rows = [] if store is None else store.instances(args.name)
    counts = {status: 0 for status in STATUSES}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    script, cls = ctx.configured().get(args.name, ("", ""))
    found = {"name": args.name, "script_name": script, "class_name": cls, "instances": counts}
    if args.json:
        _print_json(found)
        return 0
    print(labelled({"Name": args.name, "Script Name": script, "Class Name": cls}))
    print("Instance Status Counts:")
    print(labelled({k: str(v) for k, v in counts.items()}, indent=2))
    return 0


def _instances_list(args: argparse.Namespace) -> int:
    from cfemu.cli.d1 import _table

    ctx = _context(args)
    if args.status is not None and args.status not in STATUSES:
        raise CfemuError(
            f'Looks like you have provided a invalid status "{args.status}". Valid statuses '
            f"are: {', '.join(STATUSES)}"
        )
    with _reading(ctx) as store:
        _known(ctx, args.name, store, run=False)
        rows = [] if store is None else store.instances(args.name)
    if args.status is not None:
        rows = [r for r in rows if r.status == args.status]
    rows.sort(key=lambda r: r.created_ms, reverse=not args.reverse)
    if args.per_page:
        rows = rows[(args.page - 1) * args.per_page : args.page * args.per_page]
    elif args.page > 1:
        rows = []
    from cfemu.workflows.history import iso_ms

    found = [{"id": r.id, "status": r.status, "created_on": iso_ms(r.created_ms)} for r in rows]
    if args.json:
        _print_json(found)
        return 0
    if not rows and args.page == 1:
        warn(
            f'There are no instances in workflow "{args.name}". You can trigger it with '
            f'"cfemu workflows trigger {args.name}"'
        )
        return 0
    if not rows:
        warn(f"No instances found on page {args.page}. Please try a smaller page number.")
        return 0
    print(f"Showing {len(rows)} instance{'s' if len(rows) > 1 else ''} from page {args.page}:")
    table = [[r.id, local_time(r.created_ms), emojify_status(r.status)] for r in rows]
    print(_table(["Instance ID", "Created", "Status"], table))
    return 0


def _latest(name: str, instance_id: str, store: WorkflowStore | None) -> str:
    """``instance_id``, or the newest instance's id for ``latest``."""
    if instance_id != "latest":
        return instance_id
    rows = [] if store is None else store.instances(name)
    if not rows:
        raise CfemuError(f'There are no instances in workflow "{name}"')
    return max(rows, key=lambda r: r.created_ms).id


def _instance(name: str, instance_id: str, store: WorkflowStore | None) -> str:
    found = _latest(name, instance_id, store)
    if store is None or store.instance(name, found) is None:
        raise CfemuError(f'Instance "{found}" not found in workflow "{name}" (instance.not_found)')
    return found


def _instances_describe(args: argparse.Namespace) -> int:
    from cfemu.clock import RealClock
    from cfemu.workflows.history import describe_instance

    ctx = _context(args)
    with _reading(ctx) as store:
        _known(ctx, args.name, store, run=False)
        instance_id = _instance(args.name, args.id, store)
        assert store is not None
        now_ms = RealClock().now_ms()
        found = describe_instance(store, args.name, instance_id, now_ms=now_ms)
    if args.json:
        _print_json({"id": instance_id, **found})
        return 0
    print(
        describe_text(
            args.name,
            instance_id,
            found,
            step_output=args.step_output,
            limit=args.truncate_output_limit,
            now_ms=now_ms,
        )
    )
    return 0
