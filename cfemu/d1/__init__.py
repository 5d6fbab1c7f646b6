"""cfemu.d1."""
