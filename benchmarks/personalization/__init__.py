"""The personalized-FL comparison (benchmarks/personalization_comparison.py): its grid, tables and figure."""
