"""The historical teacher a client reads is exactly the model it stored at its previous participation,
also after idle rounds, in whichever precision the state keeps."""

from __future__ import annotations

import itertools

import pytest
import torch

from fedkd.app.experiment_config import load_federated
from fedkd.app.inprocess import run_in_process
from fedkd.methods import fedckd
from fedkd.methods.fedckd import HISTORICAL_MODEL, FedCKDClient


@pytest.mark.parametrize("precision", ["float32", "float16"])
def test_historical_model_is_the_one_stored_last_participation(tmp_path, monkeypatch, precision):
    reads: list[tuple[int, int, dict | None, dict]] = []  # (partition, round, read before fit, sent)
    original_fit = FedCKDClient.fit

    def spying_fit(self, round_input):
        before = round_input.state.get_model(HISTORICAL_MODEL)
        teachers = self.teachers(round_input, before)
        if before is not None:  # the teacher is built from exactly that state entry
            teacher_weights = teachers["historical"][1].state_dict()
            assert all(torch.equal(teacher_weights[k], v) for k, v in before.items())
        weights, metrics = original_fit(self, round_input)
        reads.append((round_input.data.partition_id, round_input.server_round, before,
                      {k: v.clone() for k, v in weights.items()}))
        return weights, metrics

    monkeypatch.setattr(fedckd.FedCKDClient, "fit", spying_fit)
    config = load_federated([
        "dataset=digits", "lowres=none", "partition=iid", "strategy=fedckd", "num_rounds=6",
        "simulation.num_clients=4", "simulation.fraction_train=0.5", "simulation.backend=inprocess",
        "simulation.evaluate_every=6", "train.local_epochs=1", f"simulation.state_precision={precision}",
        "strategy.teacher_norm=eval"])  # eval: the teacher is the stored entry itself (reestimate moves its statistics)
    run_in_process(config, output_root=tmp_path)

    dtype = torch.float16 if precision == "float16" else torch.float32
    gaps = []
    for partition in range(4):
        mine = sorted((r for r in reads if r[0] == partition), key=lambda r: r[1])
        assert mine, f"client {partition} never sampled in 6 rounds"
        assert mine[0][2] is None  # no historical model at the first participation
        for previous, current in itertools.pairwise(mine):
            gaps.append(current[1] - previous[1])
            stored = previous[3]
            for key, value in current[2].items():
                expected = stored[key].to(dtype).to(value.dtype) if stored[key].is_floating_point() else stored[key]
                assert torch.equal(value, expected), (partition, current[1], key)
    assert max(gaps) > 1  # at least one client was idle between two participations
