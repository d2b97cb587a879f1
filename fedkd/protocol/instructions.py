"""Keys of the ConfigRecord the server sends with a train or evaluate instruction."""

from __future__ import annotations

SERVER_ROUND = "server-round"        # set by Flower's strategies
PROXIMAL_MU = "proximal-mu"          # Flower's FedProx: μ of the proximal term
DP_CLIPPING = "fedkd.dp-clipping"    # client-level DP: which clipping (fixed/adaptive) the client-side mod runs
