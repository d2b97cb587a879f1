"""Hyper-parameter tuning of a federated method on its clients' validation splits (Optuna)."""
