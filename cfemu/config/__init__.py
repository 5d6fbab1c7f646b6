"""cfemu.config."""
