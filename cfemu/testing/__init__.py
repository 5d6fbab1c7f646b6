"""cfemu.testing."""
