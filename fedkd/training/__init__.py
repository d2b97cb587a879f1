"""Local training and evaluation of a client's model."""
