"""Differentially private generative modelling (score networks, sliced score matching,
Hamiltonian sampling); see issue 5. Nothing is implemented here yet."""
