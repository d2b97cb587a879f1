"""Differential privacy for the federated side: accounting (shared with private_gen), sample-level DP-SGD at
the clients (Opacus) and client-level DP at the server (Flower's DP strategy wrappers)."""
