"""cfemu.runtime."""
