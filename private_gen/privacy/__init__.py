"""Privacy for the generators: accounting, DP-SGD through Opacus, and the projection-perturbation mechanism."""
