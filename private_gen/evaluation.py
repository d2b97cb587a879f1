"""The quality of synthetic samples: Fréchet distance in an evaluator network's features and, for
class-conditional generators, "train on synthetic, test on real" accuracies. Nothing is chosen on the
real test split; the evaluator and the downstream classifiers train for a fixed budget."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from fedkd.config.fields import at_least, setting
from private_gen.data import GenerationData
from private_gen.metrics.classifiers import synthetic_to_real_accuracy
from private_gen.metrics.evaluator import evaluator_accuracy, evaluator_frechet, load_or_train_evaluator


@dataclass
class GenEvaluationSettings:
    """`evaluation` of fedkd-gen."""

    num_samples: int = setting(2000, at_least(20), help="synthetic images, balanced over the classes")
    evaluator_epochs: int = setting(10, at_least(1), help="evaluator CNN on the real training split (Fréchet "
                                    "feature space)")
    evaluator_seed: int = setting(0, at_least(0))
    classifier_epochs: int = setting(10, at_least(1), help="CNN trained on synthetic data, tested on the real "
                                     "held-out split")
    logreg_max_iter: int = setting(200, at_least(1))
    grid_per_class: int = setting(10, at_least(1), help="samples per class in samples.png")


def evaluate(settings: GenEvaluationSettings, data: GenerationData, samples: torch.Tensor, labels: torch.Tensor,
             class_conditional: bool, seed: int, cache_dir: Path, device: torch.device | str = "cpu"
             ) -> dict[str, float]:
    """Fréchet distance in the evaluator's features; synthetic-to-real accuracies when labels mean classes.
    The evaluator and the CNN train on `device` (the data stay on the CPU)."""
    evaluator = load_or_train_evaluator(data.train_x, data.train_y, data.num_classes, settings.evaluator_epochs,
                                        settings.evaluator_seed, cache_dir, device)
    metrics = {"frechet_distance": evaluator_frechet(evaluator, samples, data.test_x),
               "evaluator_real_test_accuracy": evaluator_accuracy(evaluator, data.test_x, data.test_y)}
    if class_conditional:
        metrics |= synthetic_to_real_accuracy(samples, labels, data.test_x, data.test_y, data.num_classes,
                                              settings.classifier_epochs, settings.logreg_max_iter, seed, device)
    return metrics
