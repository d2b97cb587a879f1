"""The privacy mechanisms `gen_privacy=<mechanism>` selects (docs/private_gen.md)."""

from __future__ import annotations

from fedkd.config.registry import Registry
from private_gen.privacy.dp_sgd import GenDPSettings
from private_gen.privacy.projection_perturbation import ProjectionPerturbationSettings
from private_gen.privacy.settings import GenPrivacySettings, NoGenPrivacy

GEN_PRIVACY: Registry[GenPrivacySettings] = Registry("gen_privacy", key="gen_privacy.mechanism")
GEN_PRIVACY.add("none", NoGenPrivacy())
GEN_PRIVACY.add("dp", GenDPSettings())
GEN_PRIVACY.add("projection_perturbation", ProjectionPerturbationSettings())
