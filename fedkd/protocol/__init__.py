"""The contracts between the ServerApp and the ClientApp, one module each: the keys of a client's reply
metrics (`reply`), the keys the server sends with its instructions (`instructions`), and the keys of a
Flower run config and SuperNode node config (`run_config`). Both sides import the same constants."""
