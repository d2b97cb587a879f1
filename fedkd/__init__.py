"""fedkd: federated and private learning simulator (personalized FL with knowledge distillation,
DP generative modelling, low-resolution face recognition workloads)."""

__version__ = "0.1.0"
