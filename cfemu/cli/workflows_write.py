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
from typing import TYPE_CHECKING, Any, Final

from cfemu.cli.workflows import _Context, _context, _instance, _known, _print_json
from cfemu.errors import CfemuError, NotEmulatedError, StateError

if TYPE_CHECKING:
    from cfemu.workflows.store import WorkflowStore

__all__ = ["change_status", "send_event", "trigger"]

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
            "stop it first, or call the Workflow's binding from the Worker"
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


_DONE: Final = {
    "terminate": '🥷 The instance "{id}" from {name} was terminated successfully',
    "pause": '⏸️ The instance "{id}" from {name} was paused successfully',
    "resume": '🔄 The instance "{id}" from {name} was resumed successfully',
    "restart": '🥷 The instance "{id}" from {name} was restarted successfully',
}


def change_status(args: argparse.Namespace) -> int:
    """``workflows instances terminate|pause|resume|restart NAME ID``."""
    from cfemu.workflows.engine import FINITE

    verb: str = args.verb
    if getattr(args, "from_step_name", None):
        raise NotEmulatedError("restart --from-step-name: cfemu restarts from the start only")
    ctx = _context(args)
    _known(ctx, args.name, None, run=True)
    with _writing(ctx, f"{verb} an instance of workflow {args.name!r}") as store:
        instance_id = _instance(ctx, args.name, args.id, store)
        row = store.instance(args.name, instance_id)
        assert row is not None
        finite = row.status in FINITE
        if verb == "terminate":
            if finite:
                raise CfemuError(
                    "(instance.cannot_terminate) Cannot terminate instance since its on a "
                    "finite state"
                )
            store.set_status(args.name, instance_id, "terminated")
        elif verb == "pause":
            if finite:
                raise CfemuError(
                    "(instance.cannot_pause) Cannot pause instance since its on a finite state"
                )
            store.set_status(args.name, instance_id, "paused")
        elif verb == "resume":
            if row.status in ("paused", "waitingForPause"):
                store.set_status(args.name, instance_id, "queued")  # replayed at next start
        else:
            store.forget_steps(args.name, instance_id)
            store.set_status(args.name, instance_id, "queued")
    print(_DONE[verb].format(id=instance_id, name=args.name))
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
        instance_id = _instance(ctx, args.name, args.id, store)
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
