"""Data: embedded and user data sets, low-resolution synthesis, client partitions."""
