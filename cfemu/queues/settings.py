"""A queue consumer's settings (``[[queues.consumers]]``) and the handler type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cfemu import limits
from cfemu.queues.message import MessageBatch

__all__ = ["ConsumerSettings", "QueueHandler", "check_range"]

#: A consumer: called with each batch; raising means the invocation failed.
QueueHandler = Callable[[MessageBatch], Awaitable[None]]


def check_range(key: str, value: object, low: float, high: float) -> None:
    """``ValueError`` naming ``key`` unless ``value`` is a number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{key} must be between {low:g} and {high:g}, got {value!r}")


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    """How a queue's consumer is fed (``[[queues.consumers]]``; production defaults).

    ``max_concurrency=None`` means :data:`cfemu.limits.DEFAULT_EMULATED_MAX_CONCURRENCY` (1):
    production autoscales up to 250 concurrent invocations, the emulator runs one batch of a
    queue at a time unless told otherwise, so that local runs are deterministic.
    """

    max_batch_size: int = limits.DEFAULT_MAX_BATCH_SIZE
    max_batch_timeout: float = limits.DEFAULT_MAX_BATCH_TIMEOUT
    max_retries: int = limits.DEFAULT_MAX_RETRIES
    dead_letter_queue: str | None = None
    max_concurrency: int | None = None
    retry_delay: int = 0

    def __post_init__(self) -> None:
        check_range(
            "max_batch_size",
            self.max_batch_size,
            limits.MIN_MAX_BATCH_SIZE,
            limits.MAX_MAX_BATCH_SIZE,
        )
        check_range(
            "max_batch_timeout",
            self.max_batch_timeout,
            limits.MIN_MAX_BATCH_TIMEOUT,
            limits.MAX_MAX_BATCH_TIMEOUT,
        )
        check_range("max_retries", self.max_retries, limits.MIN_MAX_RETRIES, limits.MAX_MAX_RETRIES)
        if self.max_concurrency is not None:
            check_range(
                "max_concurrency",
                self.max_concurrency,
                limits.MIN_MAX_CONCURRENCY,
                limits.MAX_MAX_CONCURRENCY,
            )
        check_range(
            "retry_delay", self.retry_delay, limits.MIN_DELAY_SECONDS, limits.MAX_DELAY_SECONDS
        )
        if not float(self.retry_delay).is_integer():
            raise ValueError(
                f"retry_delay must be a whole number of seconds, got {self.retry_delay}"
            )

    @property
    def effective_max_concurrency(self) -> int:
        """Batches of the queue allowed in flight at once in the emulator."""
        if self.max_concurrency is None:
            return limits.DEFAULT_EMULATED_MAX_CONCURRENCY
        return self.max_concurrency
