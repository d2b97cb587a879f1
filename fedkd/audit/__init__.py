"""Empirical privacy auditing: planted canaries, a membership guess per canary, and the one-run lower bound on ε
(Steinke, Nasr & Jagielski, "Privacy Auditing with One (1) Training Run", NeurIPS 2023)."""
