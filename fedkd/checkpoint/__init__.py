"""Checkpoints and resume: the server's state per round, the clients' states, atomic files (docs/reliability.md)."""
