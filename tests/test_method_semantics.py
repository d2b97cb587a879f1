"""Config semantics of the client-side methods on a tiny random client (no Flower involved)."""

from __future__ import annotations

import pytest
import torch
from flwr.app import RecordDict

from fedkd.app.experiment_config import load_federated
from fedkd.data.federated import ClientData
from fedkd.methods.base import LocalMethod, RoundInput
from fedkd.methods.fedckd import HISTORICAL_MODEL
from fedkd.models.small_cnn import SmallCNN
from fedkd.state.client_state import ClientState


def build_method(*overrides: str) -> LocalMethod:
    """The client side of the configured method, built as the ClientApp builds it."""
    return load_federated(["dataset=digits", "lowres=none", "train.local_epochs=1", *overrides]).local_method()


def _round_input(state: ClientState, server_round: int = 1) -> RoundInput:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 1, 8, 8, generator=gen), torch.randint(0, 10, (16,), generator=gen)
    torch.manual_seed(0)
    weights = SmallCNN(1, 10).state_dict()
    return RoundInput(weights, ClientData(0, x, y, x[:4], y[:4], x, x[:4]), state, server_round, server_round,
                      lambda: SmallCNN(1, 10), {})


@pytest.mark.parametrize(
    ("overrides", "first", "later"),
    [
        ([], {"global"}, {"global", "historical"}),
        (["strategy.first_participation=ce_only"], set(), {"global", "historical"}),
        (["strategy.lambda_historical=0"], {"global"}, {"global"}),
        (["strategy.lambda_global=0"], set(), {"historical"}),
    ],
)
def test_fedckd_teachers_per_participation(overrides, first, later):
    method = build_method("strategy=fedckd", *overrides)
    state = ClientState(RecordDict())
    # a first participation after round 1 (round 1's random global model does not teach by default)
    assert set(method.teachers(_round_input(state, 2), state.get_model(HISTORICAL_MODEL))) == first
    method.fit(_round_input(state, 2))
    teachers = method.teachers(_round_input(state, 3), state.get_model(HISTORICAL_MODEL))
    assert set(teachers) == later
    assert all(not t.training and not any(p.requires_grad for p in t.parameters()) for _, t in teachers.values())


def test_fedckd_student_init_historical_starts_from_the_stored_model():
    method = build_method("strategy=fedckd", "strategy.student_init=historical", "simulation.state_precision=float32",
                          "train.lr=1e-9")
    state = ClientState(RecordDict())
    stored = {k: v + 1.0 if v.is_floating_point() else v for k, v in _round_input(state).global_weights.items()}
    state.put_model(HISTORICAL_MODEL, stored)
    weights, _ = method.fit(_round_input(state, 2))  # lr ~0: the student stays where it started
    assert torch.allclose(weights["head.weight"], stored["head.weight"], atol=1e-6)
    assert not torch.allclose(weights["head.weight"], _round_input(state).global_weights["head.weight"], atol=0.5)


def test_local_only_keeps_the_server_model_and_trains_its_own():
    method = build_method("strategy=local", "simulation.state_precision=float32")
    state = ClientState(RecordDict())
    round_input = _round_input(state)
    sent, _ = method.fit(round_input)
    assert all(torch.equal(sent[k], v) for k, v in round_input.global_weights.items())
    own = method.personal_model(_round_input(state, 2), round_input.global_model()).state_dict()
    assert not torch.equal(own["head.weight"], round_input.global_weights["head.weight"])


def test_fedper_sends_body_only_and_keeps_its_head():
    method = build_method("strategy=fedper", "simulation.state_precision=float32")
    state = ClientState(RecordDict())
    sent, _ = method.fit(_round_input(state))
    assert sent and not any(k.startswith("head.") for k in sent)
    personal = method.personal_model(_round_input(state, 2), _round_input(state).global_model()).state_dict()
    assert torch.equal(personal["head.weight"], state.get_model("fedkd.personal_head")["head.weight"])
