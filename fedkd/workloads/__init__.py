"""Client workloads of a federation: what each client trains besides its FL method's own objective."""
