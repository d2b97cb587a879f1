"""Per-client state that survives rounds (Flower `context.state`), with disk checkpoints."""
