"""Helpers shared by several test modules."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from flwr.app import Message
from opacus.optimizers.optimizer import DPOptimizer

from fedkd.app.experiment_config import load_federated
from fedkd.app.inprocess import run_in_process
from fedkd.app.ordered_grid import partition_query_reply


def check_clipping_at_noise(monkeypatch: pytest.MonkeyPatch, bound: float) -> list[int]:
    """Patch Opacus so that every noise addition first checks that the summed gradient is
    Σ_i min(1, C/‖g_i‖)·g_i of the per-sample gradients and that each clipped term has norm ≤ C.
    Returns the list that receives, per step, how many gradients were actually clipped."""
    clipped: list[int] = []
    original = DPOptimizer.add_noise

    def checking_add_noise(self: DPOptimizer) -> None:
        samples = [p.grad_sample for p in self.params]
        norms = torch.stack([g.flatten(1).norm(dim=1) for g in samples], 1).norm(dim=1)
        factors = (bound / (norms + 1e-6)).clamp(max=1.0)
        assert ((factors * norms) <= bound * (1 + 1e-5)).all()
        for p, g in zip(self.params, samples, strict=True):
            torch.testing.assert_close(p.summed_grad, torch.einsum("i,i...->...", factors, g), rtol=1e-4, atol=1e-7)
        clipped.append(int((norms > bound).sum()))
        original(self)

    monkeypatch.setattr(DPOptimizer, "add_noise", checking_add_noise)
    return clipped


def run_tiny(tmp_path: Path, overrides: list[str]) -> tuple[list[dict], list[dict], Path]:
    """One in-process run; its rounds.csv and clients.csv rows and its directory."""
    path = run_in_process(load_federated(overrides), output_root=tmp_path)
    with open(path / "rounds.csv") as fh:
        rounds = list(csv.DictReader(fh))
    with open(path / "clients.csv") as fh:
        clients = list(csv.DictReader(fh))
    return rounds, clients, path


def check_per_record_gradients(model: torch.nn.Module, batch, kind: str, multiplicity: int,
                               grads: dict[str, torch.Tensor], losses: torch.Tensor) -> None:
    """Each record's gradient and loss (the mean over its `multiplicity` rows) equal plain autograd on it alone."""
    from private_gen.objectives import annealed_loss

    for i in range(len(batch.x) // multiplicity):
        rows = slice(i * multiplicity, (i + 1) * multiplicity)
        one = type(batch)(*(t[rows] for t in (batch.x, batch.label, batch.level, batch.noise, batch.v)))
        model.zero_grad()
        loss = annealed_loss(model, model.sigmas, one, kind).mean()
        loss.backward()
        torch.testing.assert_close(losses[i], loss.detach())
        for name, p in model.named_parameters():
            torch.testing.assert_close(grads[name][i], p.grad, rtol=1e-3, atol=1e-5)


class ThreeNodeGrid:
    """A fake Flower grid of nodes 11, 12, 13 (partitions 0, 1, 2) that answers fedkd's partition query; a
    subclass answers the other instructions in `answer`."""

    def get_node_ids(self):
        return [11, 12, 13]

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
        msg = Message(content=content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id)
        msg.metadata.__dict__["_message_id"] = f"ins-{dst_node_id}"  # as pushing sets it
        return msg

    def push_messages(self, messages):
        """Answers each message at once; the replies wait to be pulled."""
        self.answered = getattr(self, "answered", {})
        for msg in messages:
            partition = msg.metadata.dst_node_id - 11
            replies = [partition_query_reply(msg, partition)] if msg.metadata.message_type == "query" else \
                self.answer(msg, partition)
            self.answered |= {r.metadata.reply_to_message_id: r for r in replies}
        return [msg.metadata.message_id for msg in messages]

    def pull_messages(self, message_ids):
        return [self.answered.pop(i) for i in list(message_ids) if i in self.answered]

    def send_and_receive(self, messages, *, timeout=None):
        messages = list(messages)
        return self.pull_messages(self.push_messages(messages))

    def answer(self, msg: Message, partition: int) -> list[Message]:
        raise NotImplementedError



def check_hook_gradients(make_net, batch, multiplicity: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Opacus' hooks on one network from `make_net()` give the same per-record DSM gradients as torch.func on a
    copy of it; returns the hooks' gradients and losses."""
    from opacus import GradSampleModule

    from private_gen.per_sample_grads import per_sample_grads
    from private_gen.privacy.dp_sgd import _hook_grads

    torch.manual_seed(0)
    net, reference = make_net(), make_net()
    reference.load_state_dict(net.state_dict())
    params = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    grads, losses = _hook_grads(GradSampleModule(net), net.sigmas, params, batch, multiplicity)
    expected, _ = per_sample_grads(reference, batch, "dsm", multiplicity)
    for name, _ in params:
        torch.testing.assert_close(grads[name], expected[name], rtol=1e-3, atol=1e-5)
    return grads, losses


def unbounded_budget(mode: str, n: int, bound: float):
    """A client budget for one step of n samples (expected batch n) with no ε target, in `mode`."""
    from flwr.app import RecordDict

    from fedkd.privacy.sample_level import ClientBudget, SampleDPSettings
    from fedkd.state.client_state import ClientState

    settings = SampleDPSettings(target_epsilon=None, noise_multiplier=1.0, delta=1e-5, max_grad_norm=bound,
                                accountant="rdp", grad_sample_mode=mode, planned_participations=1)
    return ClientBudget(settings, 1, ClientState(RecordDict()), n, n, 1)
