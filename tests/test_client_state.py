import torch
from flwr.app import RecordDict

from fedkd.models.small_cnn import SmallCNN
from fedkd.state.client_state import ClientState


def test_participation_counter():
    state = ClientState(RecordDict())
    assert state.record_participation(3) == 1
    assert state.record_participation(7) == 2
    assert state.counters()["last_round"] == 7


def test_model_round_trip_through_checkpoint(tmp_path):
    model = SmallCNN(3, 10)
    state = ClientState(RecordDict())
    state.put_model("hist", model.state_dict())
    state.record_participation(2)
    state.save(tmp_path / "client.npz")
    loaded = ClientState.load(tmp_path / "client.npz")
    restored = loaded.get_model("hist")
    assert restored is not None
    for key, value in model.state_dict().items():
        assert torch.equal(restored[key], value)
    assert loaded.counters()["participations"] == 1
    assert loaded.get_model("absent") is None


def test_half_precision_halves_memory_and_stays_close():
    model = SmallCNN(3, 10)
    full, half = ClientState(RecordDict()), ClientState(RecordDict())
    full.put_model("hist", model.state_dict())
    half.put_model("hist", model.state_dict(), half=True)
    assert half.nbytes() < 0.55 * full.nbytes()
    restored = half.get_model("hist")
    assert restored is not None and restored["head.weight"].dtype == torch.float32
    assert torch.allclose(restored["head.weight"], model.state_dict()["head.weight"], atol=1e-3)
