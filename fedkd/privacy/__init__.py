"""Differential privacy for the federated side: accounting (shared with private_gen), sample-level DP-SGD at
the clients (Opacus) and client-level DP at the server (Flower's DP strategy wrappers).

Opacus is imported inside the functions that use it, not at module level: a deployment starts a new
ClientApp process for every message, and importing Opacus there costs ~0.7 s even when DP is off."""
