"""Neural networks: the classifiers of the federated workloads, the LR face students and the HR face teacher.

A model's settings build it for the input shape they are given; no model loads data."""
