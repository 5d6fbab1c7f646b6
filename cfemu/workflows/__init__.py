"""Cloudflare Workflows for Python Workers: durable steps, retries, sleeps and events.

``[[workflows]]`` entries put a :class:`Workflow` on ``env``; its instances run a
``WorkflowEntrypoint`` subclass's ``run(event, step)``, with every completed step recorded
(and never re-run) so an instance survives a restart. See ``docs/workflows.md``.
"""

from cfemu.workflows.binding import Workflow, WorkflowInstance
from cfemu.workflows.errors import NonRetryableError, WorkflowError, WorkflowTimeoutError

__all__ = [
    "NonRetryableError",
    "Workflow",
    "WorkflowError",
    "WorkflowInstance",
    "WorkflowTimeoutError",
]
