"""Which weights the private training updates (`generator.train.trainable`), after public pretraining.

DP-SGD adds noise of norm σC·√d to every step's summed gradient, d the number of trained weights, while the
clipped signal stays at most C per record: training fewer weights of a pretrained model raises the signal-to-noise
ratio of every step, and leaves out the costliest per-sample gradients (the convolution weights). This is
parameter-efficient DP fine-tuning: Bu, Wang, Zha & Karypis, "Differentially Private Bias-Term Fine-tuning of
Foundation Models" (DP-BiTFiT, 2022) train only the biases; Lyu, Liu, Park et al., "Differentially Private
Latent Diffusion Models" (DP-LDM, 2023) only the conditioning (attention) modules of a pretrained diffusion model.

- `all`: every weight.
- `norms_biases_conditioning`: every bias, the GroupNorm scales and the conditioning (noise-level and class
  embeddings, each block's conditioning layer); the convolution kernels stay as pretrained.
- `conditioning`: the conditioning alone.
"""

from __future__ import annotations

from torch import nn

from private_gen.score_net import ConditionedBlock

TRAINABLE = ("all", "norms_biases_conditioning", "conditioning")


def _conditioning(model: nn.Module) -> set[int]:
    modules = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    modules += [m.cond for m in model.modules() if isinstance(m, ConditionedBlock)]
    return {id(p) for m in modules for p in m.parameters()}


def _norms_and_biases(model: nn.Module) -> set[int]:
    norms = {id(p) for m in model.modules() if isinstance(m, nn.GroupNorm) for p in m.parameters()}
    return norms | {id(p) for name, p in model.named_parameters() if name.endswith("bias")}


def select_trainable(model: nn.Module, trainable: str) -> tuple[int, int]:
    """Freeze every weight outside `trainable` (one of TRAINABLE); returns (trained, total) weight counts."""
    if trainable not in TRAINABLE:
        raise ValueError(f"trainable={trainable!r}: one of {TRAINABLE}")
    if trainable == "all":
        keep = {id(p) for p in model.parameters()}
    else:
        keep = _conditioning(model)
        if trainable == "norms_biases_conditioning":
            keep |= _norms_and_biases(model)
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
