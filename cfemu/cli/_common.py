"""Options and defaults shared by the ``cfemu`` commands that work on persisted state."""

from __future__ import annotations

import argparse
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["run_async", "state_options"]

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, importing asyncio only when a command runs (not for ``--help``)."""
    import asyncio

    return asyncio.run(coro)


def state_options() -> argparse.ArgumentParser:
    """A parent parser with ``-c/--config``, ``-e/--env`` and ``--persist-to``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c", "--config", type=Path, help="wrangler config file (default: found from cwd)"
    )
    common.add_argument("-e", "--env", help="the [env.NAME] to use")
    common.add_argument(
        "--persist-to",
        type=Path,
        help="state folder (default: .cfemu/state beside the config)",
    )
    return common
