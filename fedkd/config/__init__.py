"""Config: compose the Hydra tree, validate it, and read it back from a Flower run config."""
