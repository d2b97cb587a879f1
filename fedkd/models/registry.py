"""The models `model=<name>` selects."""

from __future__ import annotations

from fedkd.config.registry import Registry
from fedkd.models.lr_student import LRStudentSettings
from fedkd.models.model_settings import ModelSettings
from fedkd.models.small_cnn import SmallCNNSettings

MODELS: Registry[ModelSettings] = Registry("model")
MODELS.add("small_cnn", SmallCNNSettings())
MODELS.add("lr_student", LRStudentSettings())
