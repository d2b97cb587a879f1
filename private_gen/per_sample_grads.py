"""Per-sample gradients of a score-matching loss with torch.func (vmap over grad).

The sliced losses hold a JVP of the network in its input, and an energy model's score is itself an input
gradient, so Opacus' backward hooks cannot compute their per-sample gradients; Opacus then runs in its
`no_op` mode and receives these as `p.grad_sample`. (DSM on a score network needs neither and uses Opacus'
hooks: private_gen/privacy/dp_sgd.py.)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from private_gen.objectives import ScoreBatch, annealed_loss


def per_sample_grads(model: nn.Module, batch: ScoreBatch, kind: str, multiplicity: int = 1,
                     chunk_size: int | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Gradient of each sample's loss w.r.t. every trainable parameter (name → (B, *param.shape)) and the
    per-sample losses (B,). With `multiplicity` K the batch holds K consecutive rows per sample (see
    `draw_batch`) and a sample's loss is the mean over its rows. `chunk_size` samples are processed at
    a time (vmap's chunking): memory grows with it (about 20 MB per 28×28 sample at width 16), and so
    does speed (one thread, 28×28: 66 samples/s at 16, 103 at 64)."""
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    sigmas = model.sigmas

    def one_sample(theta: dict[str, torch.Tensor], x, label, level, noise, v) -> torch.Tensor:
        def net(z: torch.Tensor, lv: torch.Tensor, lb: torch.Tensor) -> torch.Tensor:
            return functional_call(model, (theta, buffers), (z, lv, lb))

        return annealed_loss(net, sigmas, ScoreBatch(x, label, level, noise, v), kind).mean()

    def per_sample(t: torch.Tensor) -> torch.Tensor:
        return t.view(t.shape[0] // multiplicity, multiplicity, *t.shape[1:])

    fn = vmap(grad_and_value(one_sample), in_dims=(None, 0, 0, 0, 0, 0), randomness="different",
              chunk_size=chunk_size)
    return fn(params, *(per_sample(t) for t in (batch.x, batch.label, batch.level, batch.noise, batch.v)))
