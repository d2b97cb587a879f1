"""Neural network models used as client workloads."""
