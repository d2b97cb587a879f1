"""Personalized FL with comprehensive knowledge distillation (FedCKD; Wang, Liu, Guo et al., "Towards
Personalized Federated Learning via Comprehensive Knowledge Distillation", 2024, arXiv 2411.03569).

The local model is a student with two frozen teachers: the global model of the last aggregation
(generalized knowledge) and the client's own model from its previous participation (historical,
personalized knowledge). Local objective, batch-mean reduced:

    CE(student, y) + λ_global · KD(global ‖ student) + λ_historical · KD(historical ‖ student)

where KD is T²·KL on logits (`kd_form: logits`) or a feature-level form for embedding workloads.
With λ_global = 0 and CE only on the first participation this is the local objective of pFedSD (Jin et
al., "Personalized Edge Intelligence via Federated Self-Knowledge Distillation", IEEE TPDS 2023), which
`strategy=pfedsd` selects; what else matches the pFedSD reference recipe and what does not is listed in
docs/personalization.md ("pFedSD: what matches the reference").

How a teacher treats its normalisation layers is `teacher_norm`: `eval` (running statistics), `train`
(batch statistics of the batch being distilled, as the pFedSD reference runs its teacher), or `reestimate`
(AdaBN, Li et al. 2017: running statistics re-estimated on the client's current training split first).

The trained student is both the update sent to the server and the client's personal model; it is
stored as the next participation's historical teacher.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fedkd.config.fields import above, at_least, one_of, setting
from fedkd.config.search_space import Choice, Interval, Space
from fedkd.distill import KD_FORMS, build_kd_loss, forward_outputs
from fedkd.methods.base import LocalMethod, MethodSettings, RoundInput, StateDict, frozen
from fedkd.protocol.reply import loss_key
from fedkd.training.adabn import adapt_batchnorm
from fedkd.training.local import Objective, per_sample

HISTORICAL_MODEL = "fedkd.historical"
TEACHERS = ("global", "historical")
TEACHER_NORMS = ("eval", "train", "reestimate")


def as_teacher(model: nn.Module, norm: str, train_x: torch.Tensor) -> nn.Module:
    """Frozen `model` whose normalisation layers follow `norm` (TEACHER_NORMS); nothing else changes."""
    teacher = frozen(model)
    if norm == "reestimate":
        adapt_batchnorm(teacher, train_x)
    elif norm == "train":
        for module in teacher.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train()
    return teacher


@dataclass
class FedCKDSettings(MethodSettings):
    """`strategy=fedckd` (and `strategy=pfedsd`, the same method with λ_global = 0 and CE only at first)."""

    name: str = "fedckd"
    lambda_global: float = setting(1.0, at_least(0), help="weight of KD from the last global model")
    lambda_historical: float = setting(1.0, at_least(0), help="weight of KD from this client's model of its "
                                       "previous participation")
    temperature: float = setting(1.0, above(0), help="T of the logit KD (kd_form=logits); the loss is scaled by T^2")
    kd_form: str = setting("logits", one_of(KD_FORMS), help="feature-level forms for embedding workloads")
    student_init: str = setting("global", one_of(("global", "historical")),
                                help="where the local student starts each participation")
    first_participation: str = setting("global_teacher", one_of(("global_teacher", "ce_only")),
                                       help="global_teacher: global KD only; ce_only: no teacher yet")
    teacher_norm: str = setting("reestimate", one_of(TEACHER_NORMS), help="teachers' normalisation: eval = running "
                                "statistics | train = batch statistics | reestimate = statistics re-estimated on "
                                "the client's training split")
    global_teacher_from_round: int = setting(2, at_least(1), help="first round whose global model teaches (round "
                                             "1's is the random initial model)")

    def search_space(self) -> dict[str, Space]:
        space: dict[str, Space] = {"lambda_global": Interval(0.0, 10.0), "lambda_historical": Interval(0.0, 10.0),
                                   "temperature": Choice((1.0, 2.0, 3.0, 4.0, 6.0, 8.0))}
        if self.name == "pfedsd":  # pFedSD has no global teacher
            del space["lambda_global"]
        return space


def teacher_accuracy_key(teacher: str) -> str:
    return f"teacher_{teacher}_accuracy"


def distillation_objective(teachers: dict[str, tuple[float, nn.Module]], kd_loss: nn.Module,
                           tally: dict[str, list[int]] | None = None) -> Objective:
    """CE plus one weighted KD term per teacher, named `kd_<teacher>`. With `tally`, each teacher's [correct, seen]
    over the batches it taught is counted from the outputs already computed (its accuracy in the mode it teaches
    in: how much there is to learn from it, the diagnostic of docs/personalization.md)."""

    by_sample = hasattr(kd_loss, "per_sample")  # the relational form couples the batch's samples

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        student = forward_outputs(model, x)
        terms = {"ce": F.cross_entropy(student.logits, y, reduction="none")}
        for name, (weight, teacher) in teachers.items():
            with torch.no_grad():
                target = forward_outputs(teacher, x)
            terms[f"kd_{name}"] = weight * (kd_loss.per_sample(student, target) if by_sample
                                            else kd_loss(student, target))
            if tally is not None:
                counts = tally.setdefault(name, [0, 0])
                counts[0] += int((target.logits.argmax(1) == y).sum())
                counts[1] += len(y)
        return student, terms

    return per_sample(objective) if by_sample else objective


class FedCKDClient(LocalMethod[FedCKDSettings]):
    def teachers(self, round_input: RoundInput,
                 historical: StateDict | None) -> dict[str, tuple[float, nn.Module]]:
        """The frozen teachers of this participation, by name; empty means plain CE.

        `historical` is the model this client stored at its previous participation (None before)."""
        settings = self.settings
        if historical is None and settings.first_participation == "ce_only":
            return {}
        chosen: dict[str, tuple[float, nn.Module]] = {}
        train_x = round_input.data.train_x
        if settings.lambda_global > 0 and round_input.server_round >= settings.global_teacher_from_round:
            chosen["global"] = (settings.lambda_global,
                                as_teacher(round_input.global_model(), settings.teacher_norm, train_x))
        if historical is not None and settings.lambda_historical > 0:
            chosen["historical"] = (settings.lambda_historical,
                                    as_teacher(round_input.model_from(historical), settings.teacher_norm, train_x))
        return chosen

    def fit(self, round_input: RoundInput) -> tuple[StateDict, dict[str, float]]:
        settings = self.settings
        historical = round_input.state.get_model(HISTORICAL_MODEL)
        start = historical if settings.student_init == "historical" and historical is not None \
            else round_input.global_weights
        student = round_input.model_from(start)
        tally: dict[str, list[int]] = {}
        objective = distillation_objective(self.teachers(round_input, historical),
                                           build_kd_loss(settings.kd_form, settings.temperature), tally)
        metrics = round_input.train(student, self.train_settings, round_input.seed, objective)
        for name in TEACHERS:  # same keys every round, for aggregation; NaN accuracy: no such teacher this round
            metrics.setdefault(loss_key(f"kd_{name}"), 0.0)
            correct, seen = tally.get(name, (0, 0))
            metrics[teacher_accuracy_key(name)] = correct / seen if seen else float("nan")
        weights = student.state_dict()
        self.store(round_input, HISTORICAL_MODEL, weights)
        return weights, metrics

    def personal_model(self, round_input: RoundInput, global_model: nn.Module) -> nn.Module:
        historical = round_input.state.get_model(HISTORICAL_MODEL)
        return global_model if historical is None else round_input.model_from(historical)
