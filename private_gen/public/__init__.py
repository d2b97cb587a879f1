"""Public data the project generates offline for pretraining: no private record is read to make it."""
