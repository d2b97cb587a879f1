"""The Flower ServerApp and ClientApp (message API), shared by `flwr run .` and `fedkd-sim`."""
