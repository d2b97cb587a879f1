"""Run directories, summaries and tables."""
