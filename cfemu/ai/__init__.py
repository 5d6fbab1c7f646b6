"""cfemu.ai."""
