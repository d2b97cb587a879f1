"""Privacy for the generators: DP-SGD through Opacus and the projection-perturbation mechanism.

The accountants are shared with the federated side: fedkd.privacy.accounting."""
