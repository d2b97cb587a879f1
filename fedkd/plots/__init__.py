"""Figures drawn from finished run directories (`fedkd-plot`)."""
