"""cfemu.queues."""
