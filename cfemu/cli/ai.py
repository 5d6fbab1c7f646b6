"""``cfemu ai models``: the Workers AI models cfemu answers locally, with their task types.

Like ``wrangler ai models`` it lists models; the list is cfemu's catalogue
(:mod:`cfemu.ai.catalogue`), the models whose input schemas it checks and whose output
shapes it produces. ``--task`` filters by task type; ``--json`` prints the entries with
their input schemas.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``ai`` command group to the ``cfemu`` parser."""
    ai = subparsers.add_parser(
        "ai",
        help="Workers AI: the models cfemu answers locally",
        description="Workers AI models emulated locally.",
    )
    ai.set_defaults(parser=ai)
    commands = ai.add_subparsers(dest="ai_command", metavar="COMMAND")
    models = commands.add_parser("models", help="list the model catalogue")
    models.add_argument("--task", help="only models of this task type (e.g. 'Text Embeddings')")
    models.add_argument("--json", action="store_true", help="print JSON, with input schemas")
    models.set_defaults(handler=_models)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _models(args: argparse.Namespace) -> int:
    from cfemu.ai.catalogue import CATALOGUE, TASKS

    wanted = args.task.casefold() if args.task else None
    entries = [
        info for info in CATALOGUE.values() if wanted is None or info.task.casefold() == wanted
    ]
    if wanted is not None and not entries:
        tasks = ", ".join(TASKS)
        print(f"✘ [ERROR] no task type {args.task!r}; task types: {tasks}", file=sys.stderr)
        return 1
    entries.sort(key=lambda info: (TASKS.index(info.task), info.name))
    if args.json:
        rows = [
            {
                "name": info.name,
                "task": info.task,
                "description": info.description,
                "input": info.schema,
                "output": info.output,
                **({"dimensions": info.dimensions} if info.dimensions else {}),
            }
            for info in entries
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    table = [("model", "task", "output")] + [
        (info.name, info.task, info.output) for info in entries
    ]
    widths = [max(_width(row[i]) for row in table) for i in range(2)]
    for row in table:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row[:2])]
        print("  ".join([*cells, row[2]]).rstrip())
    return 0
