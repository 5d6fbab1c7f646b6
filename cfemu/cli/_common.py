"""Options and defaults shared by the ``cfemu`` commands that work on persisted state."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["state_options"]


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
