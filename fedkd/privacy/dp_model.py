"""Make a model fit for DP training: BatchNorm mixes the samples of a batch (no per-sample gradients under
DP-SGD) and keeps data-dependent running statistics outside the clipped update (client-level DP), so every
BatchNorm becomes a GroupNorm (Wu & He, "Group Normalization", ECCV 2018), then Opacus validates the result."""

from __future__ import annotations

import math

from torch import nn

from fedkd.errors import UserError


def batchnorm_count(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def replace_batchnorm(model: nn.Module, groups: int) -> nn.Module:
    """Every BatchNorm over C channels → GroupNorm(gcd(groups, C), C) with the same affine setting, in place."""
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            channels = child.num_features
            setattr(model, name, nn.GroupNorm(math.gcd(groups, channels), channels, affine=child.affine))
        else:
            replace_batchnorm(child, groups)
    return model


def dp_compatible(model: nn.Module, groups: int) -> nn.Module:
    """`model` with GroupNorm for BatchNorm; a UserError if Opacus still finds an unsupported layer."""
    from opacus.validators import ModuleValidator  # imported on use: see fedkd/privacy/__init__.py

    replace_batchnorm(model, groups)
    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        raise UserError(f"model {type(model).__name__} cannot be trained with DP-SGD: {errors[0]}; "
                        "choose another model or privacy=none")
    return model
