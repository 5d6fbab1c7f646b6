"""``workers.workflows``: what Cloudflare's SDK offers Workflow code besides the step API."""

from __future__ import annotations

__all__ = ["NonRetryableError"]


class NonRetryableError(Exception):
    """Raised in a step, fails the step at once: it is not retried, whatever its config."""
