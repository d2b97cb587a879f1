"""Server-side strategies (Flower message API), one algorithm per file, each a thin Flower subclass.

Most personalized methods differ only on the client (fedkd.methods); on the server they are FedAvg.
FedProx sends its μ; FedPer/FedRep average the shared body only. Which method uses which strategy is
its entry in fedkd/methods/registry.py; the ServerApp builds it (and wraps it in Flower's DP wrapper
under client-level DP).
"""
