"""Differentially private score-based generation (Liu, Wang, Guo et al., "Private Gradient Estimation is
Useful for Generative Modeling", arXiv 2305.10662): a noise-conditional score network trained by sliced
score matching under DP, sampled with annealed Hamiltonian dynamics; DP-MERF as a baseline; quality metrics."""
