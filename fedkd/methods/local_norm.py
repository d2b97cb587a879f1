"""FedBN (Li, Jiang, Zhang, Kamp, Dou, "FedBN: Federated Learning on Non-IID Features via Local Batch
Normalization", ICLR 2021) as an option of every method (`strategy.local_norm=true`; `strategy=fedbn` is FedAvg
with it): the normalisation layers' weights and running statistics stay on the client. Before the method sees
the received weights, their normalisation entries are replaced by the client's own (from its previous
participation; the server's initial ones before); after it trains, they are stored and left out of the reply,
and the server keeps its own for the keys no client sends (strategies.partial_arrays).
"""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from fedkd.methods.base import RoundInput, StateDict

LOCAL_NORM = "fedkd.local_norm"
NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def norm_keys(model: nn.Module) -> frozenset[str]:
    """State-dict keys of the model's normalisation layers (weights, biases, running statistics, counters)."""
    keys = set()
    for prefix, module in model.named_modules():
        if isinstance(module, NORM_LAYERS):
            keys.update(f"{prefix}.{name}" if prefix else name for name in module.state_dict())
    return frozenset(keys)


def with_local_norm(round_input: RoundInput) -> RoundInput:
    """The round's input with this client's own normalisation entries in place of the received ones."""
    own = round_input.state.get_model(LOCAL_NORM)
    if own is None:
        return round_input
    return replace(round_input, global_weights=round_input.global_weights | own)


def keep_local_norm(round_input: RoundInput, weights: StateDict) -> StateDict:
    """Store the normalisation entries of the trained `weights` (in full precision: they are small); return the
    rest (what is sent)."""
    keys = norm_keys(round_input.new_model())
    trained = round_input.state.get_model(LOCAL_NORM) or {}
    trained |= {k: v for k, v in weights.items() if k in keys}
    round_input.state.put_model(LOCAL_NORM, trained)
    return {k: v for k, v in weights.items() if k not in keys}
