"""The writing ``cfemu workflows`` commands: ``trigger`` and ``instances terminate | pause |
resume | restart | send-event``, on a state folder no running emulator holds.

They change ``workflows.sqlite`` the way the binding's calls would, for an instance whose
task is not running: what they write takes effect when an emulator next starts on the
folder (``begin()`` starts every stored instance that is not finished or paused).
"""

from __future__ import annotations

import argparse
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cfemu.cli.workflows import _Context, _context, _instance, _known, _latest, _print_json
from cfemu.errors import CfemuError, StateError

if TYPE_CHECKING:
    from cfemu.workflows.store import WorkflowStore

__all__ = [
    "DONE",
    "change_status",
    "delete",
    "restart_from",
    "send_event",
    "terminate_all",
    "trigger",
]

_INSTANCE_ID: Final = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9-_]*$")


@contextmanager
def _writing(ctx: _Context, action: str) -> Iterator[WorkflowStore]:
    """The store, locked against a running ``cfemu dev``."""
    from cfemu.state import StateLock, check_state_folder, opening_state, record_state_files
    from cfemu.workflows.store import WorkflowStore

    check_state_folder(ctx.folder, create=True)
    try:
        lock = StateLock.acquire(ctx.folder)
    except StateError as exc:
        raise StateError(
            f"cannot {action}: {exc}. A running 'cfemu dev' runs its Workflows in memory; "
            "stop it first, or add --local (and --port) to go through it"
        ) from None
    try:
        with opening_state(ctx.state_file, "Workflow instances"):
            store = WorkflowStore(ctx.state_file)
        try:
            yield store
        finally:
            store.close()
            record_state_files(ctx.folder)
    finally:
        lock.release()


def trigger(args: argparse.Namespace) -> int:
    """``workflows trigger NAME [PARAMS] [--id ID]``: record a ``queued`` instance."""
    from cfemu.clock import RealClock
    from cfemu.limits import WORKFLOW_MAX_EVENT_PAYLOAD_BYTES, WORKFLOW_MAX_INSTANCE_ID_LENGTH

    params: Any = None
    if args.params:
        try:
            params = json.loads(args.params)
        except ValueError as exc:
            raise CfemuError(
                f'Error while parsing instance parameters: "{args.params}" with {exc}'
            ) from None
        if len(json.dumps(params).encode()) > WORKFLOW_MAX_EVENT_PAYLOAD_BYTES:
            raise CfemuError("Workflow instance params are over the 1 MiB limit")
    instance_id = args.id if args.id is not None else str(uuid.uuid4())
    if len(instance_id) > WORKFLOW_MAX_INSTANCE_ID_LENGTH or not _INSTANCE_ID.match(instance_id):
        raise CfemuError("Workflow instance has invalid id")
    ctx = _context(args)
    _known(ctx, args.name, None, run=True)
    with _writing(ctx, f"trigger workflow {args.name!r}") as store:
        if store.instance(args.name, instance_id) is not None:
            raise CfemuError(f"(instance.already_exists) Instance {instance_id} already exists")
        store.add_instance(args.name, instance_id, params, RealClock().now_ms())
    if args.json:
        _print_json({"id": instance_id, "status": "queued"})
        return 0
    print(f'🚀 Workflow instance "{instance_id}" has been queued successfully')
    print(f"It runs when cfemu dev (or an Emulator) next starts on {ctx.folder}.")
    return 0


#: What a status change prints (wrangler's words).
DONE: Final = {
    "terminate": '🥷 The instance "{id}" from {name} was terminated successfully',
    "pause": '⏸️ The instance "{id}" from {name} was paused successfully',
    "resume": '🔄 The instance "{id}" from {name} was resumed successfully',
    "restart": '🥷 The instance "{id}" from {name} was restarted successfully',
}


def change_status(args: argparse.Namespace) -> int:
    """``workflows instances terminate|pause|resume|restart NAME ID``."""
    from cfemu.clock import RealClock
    from cfemu.workflows.engine import FINITE

    verb: str = args.verb
    from_step = restart_from(args) if verb == "restart" else None
    ctx = _context(args)
    _known(ctx, args.name, None, run=True)
    with _writing(ctx, f"{verb} an instance of workflow {args.name!r}") as store:
        instance_id = _instance(args.name, args.id, store)
        row = store.instance(args.name, instance_id)
        assert row is not None
        finite = row.status in FINITE
        now_ms = RealClock().now_ms()
        if verb == "terminate":
            if finite:
                raise CfemuError(
                    "(instance.cannot_terminate) Cannot terminate instance since its on a "
                    "finite state"
                )
            store.set_status(args.name, instance_id, "terminated")
            store.set_end(args.name, instance_id, now_ms)
        elif verb == "pause":
            if not finite:  # a finished instance is left as it is, as the binding does
                store.set_status(args.name, instance_id, "paused")
                store.set_paused(args.name, instance_id, now_ms)
        elif verb == "resume":
            if row.status in ("paused", "waitingForPause"):
                store.shift_for_resume(args.name, instance_id, now_ms)
                store.set_status(args.name, instance_id, "queued")  # replayed at next start
        else:
            from_key = None
            if from_step is not None:
                from_key = "{}:{}-{}".format(*from_step)
                if not store.step(args.name, instance_id, from_key)[0]:
                    raise CfemuError(
                        f'(instance.cannot_restart) Step "{from_step[1]}" not found in '
                        "execution history"
                    )
            store.forget_steps(args.name, instance_id, from_key)
            store.set_status(args.name, instance_id, "queued")
            store.set_end(args.name, instance_id, None)
            store.set_paused(args.name, instance_id, None)
    print(DONE[verb].format(id=instance_id, name=args.name))
    return 0


def restart_from(args: argparse.Namespace) -> tuple[str, str, int] | None:
    """``(key prefix, name, count)`` of ``--from-step-*``, with wrangler's checks."""
    if not args.from_step_name:
        if args.from_step_count is not None or args.from_step_type is not None:
            raise CfemuError(
                "--from-step-name is required when using --from-step-count or --from-step-type"
            )
        return None
    count = 1 if args.from_step_count is None else args.from_step_count
    if count < 1:
        raise CfemuError("--from-step-count must be a positive integer")
    # the recorded key of a wait_for_event is its deadline's (spec §3.9: name + count)
    prefix = {"do": "do", "sleep": "sleep", "waitForEvent": "deadline"}
    return prefix[args.from_step_type or "do"], args.from_step_name, count


def delete(args: argparse.Namespace) -> int:
    """``workflows instances delete NAME ID... [--filename F]``: forget instances and all
    they recorded (a running one is stopped by its emulator at its next start)."""
    ids: list[str] = list(args.id)
    if args.filename is not None:
        try:
            found = json.loads(Path(args.filename).read_text())
        except (OSError, ValueError) as exc:
            raise CfemuError(f"cannot read {args.filename}: {exc}") from None
        if not isinstance(found, list) or not all(isinstance(i, str) for i in found):
            raise CfemuError(
                f'Unexpected JSON input from "{args.filename}". Expected an array of strings.'
            )
        ids += found
    if not ids:
        raise CfemuError("Provide at least one workflow instance ID")
    if len(ids) > 100:
        raise CfemuError("You can delete at most 100 workflow instances at a time")
    ctx = _context(args)
    _known(ctx, args.name, None, run=True)
    deleted: list[str] = []
    errors: list[str] = []
    with _writing(ctx, f"delete instances of workflow {args.name!r}") as store:
        for requested in ids:
            instance_id = _latest(args.name, requested, store)
            if store.delete_instance(args.name, instance_id):
                deleted.append(instance_id)
            else:
                errors.append(f"  - {instance_id}: (instance.not_found) Instance does not exist")
    if deleted:
        names = ", ".join(f'"{i}"' for i in deleted)
        print(f'🗑️  Deleted workflow instances from "{args.name}": {names}')
    if errors:
        raise CfemuError(
            f"Failed to delete {len(errors)} workflow instance(s):\n" + "\n".join(errors)
        )
    return 0


_TERMINABLE: Final = ("queued", "running", "paused", "waitingForPause", "waiting")


def terminate_all(args: argparse.Namespace) -> int:
    """``workflows instances terminate-all NAME [--status S]``: terminate every unfinished
    instance (of that status)."""
    if args.status is not None and args.status not in _TERMINABLE:
        raise CfemuError(
            f'Provided status "{args.status}" is not valid, it must be one of the following: '
            f"{', '.join(_TERMINABLE)}."
        )
    wanted = (args.status,) if args.status is not None else _TERMINABLE
    ctx = _context(args)
    _known(ctx, args.name, None, run=True)
    with _writing(ctx, f"terminate instances of workflow {args.name!r}") as store:
        rows = [row for row in store.instances(args.name) if row.status in wanted]
        from cfemu.clock import RealClock

        now_ms = RealClock().now_ms()
        for row in rows:
            store.set_status(args.name, row.id, "terminated")
            store.set_end(args.name, row.id, now_ms)
    which = f' with status "{args.status}"' if args.status is not None else ""
    print(f'🥷 Terminated {len(rows)} instance(s) from Workflow "{args.name}"{which}')
    return 0


def send_event(args: argparse.Namespace) -> int:
    """``workflows instances send-event NAME ID --type T [--payload JSON]``: queue an event
    for the instance's ``wait_for_event``."""
    from cfemu.clock import RealClock
    from cfemu.limits import WORKFLOW_MAX_EVENT_PAYLOAD_BYTES
    from cfemu.workflows.engine import FINITE

    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        raise CfemuError(
            f'Error while parsing event payload: "{args.payload}" with {exc}'
        ) from None
    if len(json.dumps(payload).encode()) > WORKFLOW_MAX_EVENT_PAYLOAD_BYTES:
        raise CfemuError("sendEvent: the event payload is over the 1 MiB limit")
    ctx = _context(args)
    _known(ctx, args.name, None, run=True)
    with _writing(ctx, f"send an event to workflow {args.name!r}") as store:
        instance_id = _instance(args.name, args.id, store)
        row = store.instance(args.name, instance_id)
        assert row is not None
        if row.status in FINITE:
            raise CfemuError(
                "(instance.cannot_send_event) Cannot send event to instance since its on a "
                "finite state"
            )
        event = {"payload": payload, "timestamp": RealClock().now_ms(), "type": args.type}
        store.add_event(args.name, instance_id, args.type, event)
    shown = f' and payload "{args.payload}"' if payload not in ({}, None) else ""
    print(
        f'📤 The event with type "{args.type}"{shown} was sent to the instance '
        f'"{instance_id}" from {args.name}'
    )
    return 0
