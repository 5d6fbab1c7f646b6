"""The ``cfemu`` command line: ``cfemu dev``, ``cfemu d1 ...``, ``cfemu queues ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cfemu`` command, with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="cfemu",
        description="Run Cloudflare Workers, Queues and D1 locally, in Python.",
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def _version() -> str:
    from cfemu import __version__

    return f"cfemu {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cfemu`` console script. Returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stdout)
        return 0
    return 0
