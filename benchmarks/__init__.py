"""Benchmarks: scripts that measure fedkd and print their figures (run on demand, see docs/benchmarks.md)."""
