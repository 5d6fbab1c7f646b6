"""Importing a Worker's entry module, and naming what fails in it (for `cfemu.runtime.worker`)."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

from cfemu._contain import contained
from cfemu.errors import WorkerError

__all__ = ["import_file", "import_name", "module_prefix"]

_module_ids = itertools.count(1)


def module_prefix(worker: str) -> str:
    """The ``sys.modules`` name prefix of a Worker's entry modules."""
    return "_cfemu_worker_" + re.sub(r"\W", "_", worker)


def import_file(path: Path, worker: str) -> ModuleType:
    """Import the Worker's entry file under a name of its own; a failure is one WorkerError."""
    module_name = f"{module_prefix(worker)}_{next(_module_ids)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise WorkerError(f"Worker {worker!r}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if not isinstance(exc, Exception):
            raise contained(exc, worker, f"importing {path}") from None
        message = f"Worker {worker!r}: importing {path} failed: {_import_failure(exc, path)}"
    else:
        return module
    # Raised outside the except block: one message, no chain through importlib and cfemu.
    raise WorkerError(message)


def import_name(name: str, worker: str) -> ModuleType:
    """Import the Worker's entry module by dotted name; a failure is one WorkerError."""
    try:
        return importlib.import_module(name)
    except Exception as exc:
        message = (
            f"Worker {worker!r}: importing module {name!r} failed: {_import_failure(exc, None)}"
        )
    raise WorkerError(message)


def _import_failure(exc: BaseException, main: Path | None) -> str:
    """``ValueError: bad`` plus the user's own line where it happened: ``at file:3: code``."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        source = (exc.text or "").strip()
        where = f"{exc.filename}:{exc.lineno}"
        return f"{type(exc).__name__}: {exc.msg}\n    at {where}" + (
            f": {source}" if source else ""
        )
    cfemu_root = str(Path(__file__).resolve().parents[1])
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(("<", cfemu_root))
    ]
    if main is not None:
        # Prefer frames of the Worker's own folder over a library it imported.
        own = [f for f in frames if Path(f.filename).resolve().is_relative_to(main.parent)]
        frames = own or frames
    if frames:
        frame = frames[-1]
        text += f"\n    at {frame.filename}:{frame.lineno}" + (
            f": {frame.line.strip()}" if frame.line else ""
        )
    return text
