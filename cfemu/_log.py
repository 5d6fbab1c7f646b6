"""One line per invocation, as ``wrangler dev`` prints them: requests, queue batches, crons,
alarms. Services log through :func:`invocation`; ``cfemu dev`` decides level and colour.

The loggers are ``cfemu.requests``, ``cfemu.queues``, ``cfemu.crons`` and ``cfemu.alarms``
(for Durable Object alarms, once they exist: call ``invocation(ALARMS, "ALARM", ...)``).
"""

from __future__ import annotations

import logging

__all__ = ["ALARMS", "CRONS", "REQUESTS", "invocation"]

REQUESTS = logging.getLogger("cfemu.requests")
CRONS = logging.getLogger("cfemu.crons")
ALARMS = logging.getLogger("cfemu.alarms")


def invocation(
    logger: logging.Logger, kind: str, target: str, outcome: str, seconds: float
) -> None:
    """Log ``KIND target outcome (12ms)`` at info level (a failure's error is logged apart)."""
    if logger.isEnabledFor(logging.INFO):
        logger.info("%s %s %s (%dms)", kind, target, outcome, round(seconds * 1000))
