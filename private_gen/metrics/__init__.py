"""Quality metrics of synthetic data: train on synthetic / test on real, Fréchet distance, sample grids."""
