"""``cfemu kv ...``: list namespaces and read or write keys of the local KV state.

The verbs and flags are ``wrangler kv``'s in local mode (``--local`` is the default and the
only mode): ``kv namespace list``, ``kv key list|get|put|delete`` with ``--binding`` or
``--namespace-id``. The namespace is the file ``<persist-to>/kv/<id>.sqlite`` that
``cfemu dev`` and the emulator use; SQLite lets these commands run beside ``cfemu dev``.
Times (``--ttl``, expiry) are the machine's clock.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfemu.cli._common import run_async, state_options
from cfemu.errors import CfemuError, ConfigError

if TYPE_CHECKING:
    from cfemu.config import WorkerConfig
    from cfemu.kv import KvNamespace

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``kv`` command group to the ``cfemu`` parser."""
    kv = subparsers.add_parser(
        "kv",
        help="read and write local Workers KV namespaces (like wrangler kv)",
        description="Work with the local KV namespaces of a wrangler config.",
    )
    kv.set_defaults(parser=kv)
    groups = kv.add_subparsers(dest="kv_group", metavar="COMMAND")

    common = state_options()
    common.add_argument("--local", action="store_true", help="use local state (the default)")
    common.add_argument("--remote", action="store_true", help=argparse.SUPPRESS)
    common.add_argument("--preview", action="store_true", help=argparse.SUPPRESS)

    namespace = groups.add_parser("namespace", help="KV namespaces")
    namespace.set_defaults(parser=namespace)
    ns_commands = namespace.add_subparsers(dest="namespace_command", metavar="COMMAND")
    listing = ns_commands.add_parser(
        "list", parents=[common], help="the config's namespaces, as JSON"
    )
    listing.set_defaults(handler=_namespace_list)

    which = argparse.ArgumentParser(add_help=False, parents=[common])
    which.add_argument("--binding", help="the namespace's binding name in the config")
    which.add_argument("--namespace-id", help="the namespace's id")

    key = groups.add_parser("key", help="keys of one namespace")
    key.set_defaults(parser=key)
    key_commands = key.add_subparsers(dest="key_command", metavar="COMMAND")
    keys = key_commands.add_parser("list", parents=[which], help="list keys, as JSON")
    keys.add_argument("--prefix", default="", help="only keys starting with this")
    keys.set_defaults(handler=_key_list)
    get = key_commands.add_parser("get", parents=[which], help="print a key's value")
    get.add_argument("key")
    get.add_argument("--text", action="store_true", help="decode the value as UTF-8 text")
    get.set_defaults(handler=_key_get)
    put = key_commands.add_parser("put", parents=[which], help="write a value")
    put.add_argument("key")
    put.add_argument("value", nargs="?", help="the value (or --path)")
    put.add_argument("--path", type=Path, help="read the value from this file")
    put.add_argument("--ttl", type=int, help="expire after this many seconds (at least 60)")
    put.add_argument("--expiration", type=int, help="expire at this epoch second")
    put.add_argument("--metadata", help="JSON metadata to store with the value")
    put.set_defaults(handler=_key_put)
    delete = key_commands.add_parser("delete", parents=[which], help="delete a key")
    delete.add_argument("key")
    delete.set_defaults(handler=_key_delete)


def _config(args: argparse.Namespace) -> WorkerConfig:
    from cfemu.config import find_config, load_config

    if args.remote:
        raise CfemuError("cfemu works on local state only: --remote is not supported")
    path = Path(args.config) if args.config else find_config()
    return load_config(path, environment=args.env)


def _state(args: argparse.Namespace, config: WorkerConfig) -> Path:
    from cfemu.state import default_state_folder

    return Path(args.persist_to) if args.persist_to else default_state_folder(config.path)


def _namespace_list(args: argparse.Namespace) -> int:
    config = _config(args)
    rows = [{"id": entry.storage_key, "title": entry.binding} for entry in config.kv_namespaces]
    print(json.dumps(rows, indent=2, ensure_ascii=False))
    return 0


def _open(args: argparse.Namespace) -> tuple[KvNamespace, str]:
    from cfemu.clock import RealClock
    from cfemu.kv import namespace_file, open_namespace
    from cfemu.state import check_state_folder, opening_state, record_state_files

    if args.binding and args.namespace_id:
        raise CfemuError("Arguments binding and namespace-id are mutually exclusive")
    if not (args.binding or args.namespace_id):
        raise CfemuError("Specify either --binding or --namespace-id")
    config = _config(args)
    namespace_id: str | None = args.namespace_id
    if args.binding:
        for entry in config.kv_namespaces:
            if entry.binding == args.binding:
                namespace_id = entry.storage_key
                break
        else:
            raise ConfigError(
                f'A namespace with binding name "{args.binding}" was not found in the '
                f'configured "kv_namespaces".',
                file=config.path,
                key_path="kv_namespaces",
            )
    assert namespace_id is not None
    folder = _state(args, config)
    check_state_folder(folder, create=True)  # a newer format or damaged folder is refused
    path = namespace_file(folder, namespace_id)
    with opening_state(path, f"KV namespace {namespace_id!r}"):
        kv = open_namespace(path, clock=RealClock(), binding=args.binding or namespace_id)
    record_state_files(folder)
    return kv, namespace_id


def _key_list(args: argparse.Namespace) -> int:
    kv, _ = _open(args)
    try:
        keys: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = run_async(kv.list(prefix=args.prefix, cursor=cursor))
            keys += [dict(k) for k in page["keys"]]
            if page["list_complete"]:
                break
            cursor = page["cursor"]
    finally:
        kv.store.close()
    print(json.dumps(keys, indent=2, ensure_ascii=False))
    return 0


def _key_get(args: argparse.Namespace) -> int:
    kv, _ = _open(args)
    try:
        value = run_async(kv.get(args.key, type="arrayBuffer"))
    finally:
        kv.store.close()
    if value is None:
        print("Value not found")
        return 0
    data = bytes(value)
    if args.text:
        print(data.decode("utf-8", "replace"))
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


def _key_put(args: argparse.Namespace) -> int:
    if (args.value is None) == (args.path is None):
        raise CfemuError("Exactly one of the arguments value and path is required")
    options: dict[str, Any] = {}
    if args.ttl is not None:
        options["expirationTtl"] = args.ttl
    if args.expiration is not None:
        options["expiration"] = args.expiration
    if args.metadata is not None:
        try:
            options["metadata"] = json.loads(args.metadata)
        except ValueError:
            raise CfemuError(f"--metadata is not valid JSON: {args.metadata}") from None
    value: str | bytes
    if args.path is not None:
        try:
            value = Path(args.path).read_bytes()
        except OSError as exc:
            raise CfemuError(f"cannot read {args.path}: {exc.strerror or exc}") from exc
    else:
        value = args.value
    kv, namespace_id = _open(args)
    try:
        run_async(kv.put(args.key, value, options))
    finally:
        kv.store.close()
    if args.path is not None:
        print(
            f'Writing the contents of {args.path} to the key "{args.key}" on namespace '
            f"{namespace_id}."
        )
    else:
        print(f'Writing the value "{args.value}" to key "{args.key}" on namespace {namespace_id}.')
    return 0


def _key_delete(args: argparse.Namespace) -> int:
    kv, namespace_id = _open(args)
    try:
        run_async(kv.delete(args.key))
    finally:
        kv.store.close()
    print(f'Deleting the key "{args.key}" on namespace {namespace_id}.')
    return 0
