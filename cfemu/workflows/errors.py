"""The errors Workflow bindings and steps raise (Cloudflare's wording, spec §3.6-§3.8)."""

from __future__ import annotations

from cfemu.runtime.workers_module.workflows import NonRetryableError

__all__ = ["NonRetryableError", "WorkflowError", "WorkflowTimeoutError"]


class WorkflowError(Exception):
    """A Workflow binding call Cloudflare refuses (``instance.not_found`` ...)."""


class WorkflowTimeoutError(Exception):
    """A step attempt ran past its ``timeout``, or a ``wait_for_event`` past its timeout."""
