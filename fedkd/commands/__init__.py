"""The console commands. Each experiment command is the shared skeleton (`skeleton.py`) with its schema and
its job; no component imports anything from here."""
