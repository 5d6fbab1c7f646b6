"""cfemu's benchmarks: ``python -m benchmarks`` runs them all (see docs/performance.md)."""
