"""Face distillers: hand-computed values, zero loss when the student equals the teacher (where that
holds), and gradients that reach the student and never the teacher."""

from __future__ import annotations

import math

import pytest
import torch

from fedkd.distill.cckd import CCKD
from fedkd.distill.coupleface_kd import CoupleFaceKD, mine_informative_pairs
from fedkd.distill.face_distiller import FaceDistiller
from fedkd.distill.hybrid_order_kd import HybridOrderKD, pairwise_distance_relation, triplet_angle_relation
from fedkd.distill.instance_relation_kd import InstanceRelationKD
from fedkd.distill.logit_feature_kd import LogitFeatureKD
from fedkd.distill.outputs import Outputs
from fedkd.distill.relational_contrastive_kd import RelationalContrastiveKD
from fedkd.distill.selective_kd import SelectiveKD, fisher_ratio

E1, E2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])


def outputs(embedding: torch.Tensor, logits: torch.Tensor | None = None) -> Outputs:
    return Outputs(embedding, torch.zeros(len(embedding), 3) if logits is None else logits)


def prepared_selective() -> SelectiveKD:
    loss = SelectiveKD(keep_fraction=0.5, lambda_feature=1.0)
    torch.manual_seed(0)
    labels = torch.arange(4).repeat_interleave(8)
    # Dimension 0 separates the identities, dimension 1 is noise of the same spread within each.
    embeddings = torch.stack([labels.float() * 3 + 0.1 * torch.randn(32), torch.randn(32)], 1) + 10
    loss.prepare(embeddings, labels)
    return loss


ALL = {
    "logit_feature": lambda: LogitFeatureKD(lambda_logits=1.0, temperature=2.0, lambda_feature=1.0),
    "selective": prepared_selective,
    "cckd": lambda: CCKD(),
    "hybrid_order": lambda: HybridOrderKD(),
    "coupleface": lambda: CoupleFaceKD(num_negatives=2),
    "instance_relation": lambda: InstanceRelationKD(),
    "relational_contrastive": lambda: RelationalContrastiveKD(),
}
ZERO_WHEN_EQUAL = [k for k in ALL if k != "relational_contrastive"]  # InfoNCE is > 0 by construction


def test_feature_regression_is_squared_distance_of_unit_embeddings():
    terms = LogitFeatureKD(lambda_logits=0.0, lambda_feature=3.0)(outputs(torch.stack([E1, E1 * 5])),
                                                                  outputs(torch.stack([E2, E1])), torch.zeros(2))
    assert set(terms) == {"kd_feature"}
    assert terms["kd_feature"].item() == pytest.approx(3.0 * (2.0 + 0.0) / 2)


def test_selective_kd_keeps_the_discriminative_dimension():
    loss = prepared_selective()
    assert loss.selected.tolist() == [0]
    # Only dimension 0 counts: (1 − 0)² for the first sample, 0 for the second (dimension 1 differs).
    student, teacher = torch.stack([E1, E1]), torch.stack([E2, torch.tensor([1.0, 1e-9])])
    value = loss(outputs(student), outputs(teacher), torch.zeros(2))["kd_selective"]
    assert value.item() == pytest.approx(0.5, abs=1e-6)


def test_fisher_ratio_of_a_constant_within_class_dimension_is_large():
    labels = torch.tensor([0, 0, 1, 1])
    ratio = fisher_ratio(torch.tensor([[0.0, 1.0], [0.0, -1.0], [1.0, 1.0], [1.0, -1.0]]), labels)
    assert ratio[0] > 1e6 and ratio[1] == pytest.approx(0.0)


def test_cckd_matches_the_taylor_kernel_by_hand():
    gamma = 0.4
    terms = CCKD(gamma=gamma, order=2, lambda_instance=1.0, lambda_correlation=1.0)(
        outputs(torch.stack([E1, E2])), outputs(torch.stack([E1, E1])), torch.zeros(2))
    # Student Gram [[1,0],[0,1]], teacher Gram all ones; kernel(g) = e^{-2γ}(1 + 2γg + (2γ)²g²/2).
    kernel_one = math.exp(-2 * gamma) * (1 + 2 * gamma + (2 * gamma) ** 2 / 2)
    kernel_zero = math.exp(-2 * gamma)
    assert terms["kd_correlation"].item() == pytest.approx(2 * (kernel_one - kernel_zero) ** 2 / 4, rel=1e-6)
    assert terms["kd_instance"].item() == pytest.approx(1.0)  # (0 + 2) / 2


def test_hybrid_order_relations_of_a_right_triangle():
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    angles = triplet_angle_relation(points)  # [j, i, k] = cos of the angle at j between i and k
    assert angles[0, 1, 2].item() == pytest.approx(0.0, abs=1e-6)
    assert angles[1, 0, 2].item() == pytest.approx(math.sqrt(0.5), rel=1e-6)
    distances = pairwise_distance_relation(points)
    off = ~torch.eye(3, dtype=torch.bool)
    assert distances[off].mean().item() == pytest.approx(1.0)
    assert distances[1, 2].item() == pytest.approx(math.sqrt(2) / ((2 + math.sqrt(2)) / 3), rel=1e-6)


def test_hybrid_order_adds_an_assistant_term_only_with_an_assistant():
    torch.manual_seed(0)
    s, t, a = torch.randn(5, 4), torch.randn(5, 4), torch.randn(5, 4)
    loss = HybridOrderKD(lambda_assistant=0.5)
    assert "kd_assistant" not in loss(outputs(s), outputs(t), torch.zeros(5))
    assert loss(outputs(s), outputs(t), torch.zeros(5), outputs(a))["kd_assistant"].item() > 0


def test_coupleface_mines_same_identity_pairs_and_the_hardest_negatives():
    similarity = torch.tensor([[1.0, 0.9, 0.2, 0.8],
                               [0.9, 1.0, 0.7, 0.1],
                               [0.2, 0.7, 1.0, 0.3],
                               [0.8, 0.1, 0.3, 1.0]])
    labels = torch.tensor([0, 0, 1, 2])
    mask = mine_informative_pairs(similarity, labels, num_negatives=1)
    assert mask.tolist() == [[False, True, False, True],   # positive 1, hardest negative 3 (0.8)
                             [True, False, True, False],   # positive 0, hardest negative 2 (0.7)
                             [False, True, False, False],  # no positive; hardest negative 1
                             [True, False, False, False]]  # hardest negative 0


def test_coupleface_relation_matches_student_to_teacher_similarity():
    # Two identities; the teacher puts them at 90°, the student's first embedding copies the second.
    terms = CoupleFaceKD(lambda_feature=0.0, lambda_relation=1.0, num_negatives=1)(
        outputs(torch.stack([E2, E2])), outputs(torch.stack([E1, E2])), torch.tensor([0, 1]))
    # Mined pairs (0,1) and (1,0): cos(s0,t1) − cos(t0,t1) = 1 − 0; cos(s1,t0) − cos(t1,t0) = 0 − 0.
    assert terms["kd_mutual_relation"].item() == pytest.approx(0.5)


def test_instance_relation_by_hand():
    terms = InstanceRelationKD(1.0, 1.0)(outputs(torch.stack([E1, E2])), outputs(torch.stack([E1, E1])),
                                         torch.zeros(2))
    assert terms["kd_instance"].item() == pytest.approx(1.0)
    assert terms["kd_relation"].item() == pytest.approx(1.0)  # off-diagonal (0 − 1)²


def test_relational_contrastive_by_hand():
    tau = 0.5
    terms = RelationalContrastiveKD(temperature=tau)(outputs(torch.stack([E1, E2])), outputs(torch.stack([E1, E2])),
                                                     torch.zeros(2))
    assert terms["kd_relation"].item() == pytest.approx(0.0, abs=1e-7)
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 1))
    assert terms["kd_contrastive"].item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ZERO_WHEN_EQUAL)
def test_zero_loss_when_student_equals_teacher(name):
    torch.manual_seed(1)
    embedding, logits = torch.randn(6, 2) + 10, torch.randn(6, 3)
    terms = ALL[name]()(Outputs(embedding, logits), Outputs(embedding.clone(), logits.clone()),
                        torch.tensor([0, 0, 1, 1, 2, 2]))
    assert terms and all(v.item() == pytest.approx(0.0, abs=1e-5) for v in terms.values())


@pytest.mark.parametrize("name", list(ALL))
def test_gradient_reaches_the_student_only(name):
    torch.manual_seed(2)
    student_emb = torch.randn(6, 2, requires_grad=True)
    student_logits = torch.randn(6, 3, requires_grad=True)
    teacher_emb = torch.randn(6, 2, requires_grad=True)
    teacher_logits = torch.randn(6, 3, requires_grad=True)
    loss: FaceDistiller = ALL[name]()
    terms = loss(Outputs(student_emb, student_logits), Outputs(teacher_emb, teacher_logits),
                 torch.tensor([0, 0, 1, 1, 2, 2]))
    torch.stack(list(terms.values())).sum().backward()
    assert student_emb.grad is not None and student_emb.grad.abs().sum() > 0
    assert teacher_emb.grad is None and teacher_logits.grad is None


def test_batch_coupling_is_declared():
    coupled = {name for name, make in ALL.items() if make().batch_coupled}
    assert coupled == {"cckd", "hybrid_order", "coupleface", "instance_relation", "relational_contrastive"}


@pytest.mark.parametrize("name", list(ALL))
def test_the_terms_a_distiller_returns_are_the_ones_it_declares(name):
    """clients.csv gets its columns from `terms`: a returned term that is not declared would have none."""
    torch.manual_seed(3)
    loss: FaceDistiller = ALL[name]()
    assistant = Outputs(torch.randn(6, 2), torch.randn(6, 3))
    terms = loss(Outputs(torch.randn(6, 2), torch.randn(6, 3)), Outputs(torch.randn(6, 2), torch.randn(6, 3)),
                 torch.tensor([0, 0, 1, 1, 2, 2]), assistant)
    assert terms and set(terms) <= set(type(loss).terms)
