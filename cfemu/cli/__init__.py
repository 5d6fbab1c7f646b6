"""The ``cfemu`` command line: ``cfemu dev``, ``cfemu d1 ...``, ``cfemu queues ...``,
``cfemu workflows ...``."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from cfemu.errors import CfemuError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cfemu`` command, with every sub-command."""
    from cfemu.cli import ai, d1, dev, durable_objects, kv, queues, workflows

    parser = argparse.ArgumentParser(
        prog="cfemu",
        description="Run Cloudflare Workers, Queues and D1 locally, in Python.",
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    dev.register(subparsers)
    d1.register(subparsers)
    durable_objects.register(subparsers)
    kv.register(subparsers)
    queues.register(subparsers)
    workflows.register(subparsers)
    ai.register(subparsers)
    return parser


def _version() -> str:
    from cfemu import __version__

    return f"cfemu {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cfemu`` console script. Returns the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments == ["--version"]:  # answered before the sub-commands' modules load
        print(_version())
        return 0
    parser = build_parser()
    args = parser.parse_args(arguments)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        # A command group without a sub-command prints its own help.
        (getattr(args, "parser", None) or parser).print_help(sys.stdout)
        return 0
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return handler(args)
        except CfemuError as exc:
            print(f"✘ [ERROR] {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Config warnings as one line in wrangler's style; others as Python prints them."""
    from cfemu.config import ConfigWarning

    if issubclass(category, ConfigWarning):
        print(f"▲ [WARNING] {message}", file=sys.stderr, flush=True)
        return
    text: Any = warnings.formatwarning(message, category, filename, lineno, line)
    print(text, end="", file=file or sys.stderr)
