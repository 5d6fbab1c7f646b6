"""The errors Workflow bindings and steps raise (Cloudflare's wording, spec §3.6-§3.8)."""

from __future__ import annotations

from typing import Final

from cfemu.runtime.workers_module.workflows import NonRetryableError

__all__ = ["InstanceFatal", "NonRetryableError", "WorkflowError", "WorkflowTimeoutError"]

#: The error name Cloudflare gives an instance ended by the engine itself.
FATAL_NAME: Final = "WorkflowFatalError"


class WorkflowError(Exception):
    """A Workflow binding call Cloudflare refuses (``instance.not_found`` ...)."""


class WorkflowTimeoutError(Exception):
    """A step attempt ran past its ``timeout``, or a ``wait_for_event`` past its timeout."""


class InstanceFatal(BaseException):
    """Ends an instance as ``errored`` past the Workflow's own ``try``/``except``, as
    Cloudflare's engine aborts it (a step result that is not serialisable, the instance's
    storage limit). ``error`` is what ``status()`` reports."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.error = {"name": FATAL_NAME, "message": message}
