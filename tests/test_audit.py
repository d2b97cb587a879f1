"""The one-run privacy audit: its bound against closed forms and an independent binomial tail, its behaviour on
a Gaussian mechanism with a known ε, canary injection, the scorer's blindness to the coins, and audited runs."""

from __future__ import annotations

import ast
import csv
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict
from flwr.supercore.task_identity import TaskIdentity
from helpers import run_tiny

import fedkd.audit.coins as coins_module
from fedkd.app.experiment_config import load_federated
from fedkd.audit.canaries import gradient_canaries, input_canaries
from fedkd.audit.canary_gradients import CanaryGradients
from fedkd.audit.coins import inclusion_coins
from fedkd.audit.one_run_bound import audit, epsilon_lower_bound, guesses, p_value
from fedkd.audit.scoring import CanaryScorer
from fedkd.audit.settings import AuditSettings
from fedkd.commands import plot
from fedkd.data.federated import load_client_data
from fedkd.errors import UserError
from fedkd.models.small_cnn import SmallCNN
from fedkd.protocol.reply import PARTITION_ID
from private_gen.audit import PlantedGradients, weight_drop_scores
from private_gen.audit import with_canaries as with_gen_canaries
from private_gen.config import load_generation
from private_gen.experiment import load_data, run_generation

ROOT = Path(__file__).resolve().parent.parent


def binomial_tail(r: int, v: int, q: float) -> float:
    return sum(math.comb(r, k) * q ** k * (1 - q) ** (r - k) for k in range(v, r + 1))


@pytest.mark.parametrize(("r", "v", "eps"), [(10, 7, 0.5), (50, 40, 1.0), (200, 120, 0.2), (30, 30, 3.0)])
def test_pure_dp_p_value_is_the_binomial_tail(r, v, eps):
    q = math.exp(eps) / (1 + math.exp(eps))
    assert p_value(1000, r, v, eps, 0.0) == pytest.approx(binomial_tail(r, v, q), rel=1e-9)


def test_with_delta_the_p_value_adds_the_largest_mean_of_the_lower_tail():
    m, r, v, eps, delta = 400, 40, 30, 1.0, 1e-4
    q = math.exp(eps) / (1 + math.exp(eps))
    pmf = [math.comb(r, k) * q ** k * (1 - q) ** (r - k) for k in range(r + 1)]
    alpha = max(sum(pmf[v - i:v]) / i for i in range(1, v + 1))
    assert p_value(m, r, v, eps, delta) == pytest.approx(binomial_tail(r, v, q) + 2 * m * delta * alpha, rel=1e-9)


def test_all_guesses_right_gives_the_closed_form_bound():
    r, beta = 100, 0.05  # q^r = beta  ->  eps = log(q / (1 - q))
    q = beta ** (1 / r)
    assert epsilon_lower_bound(1000, r, r, 0.0, 1 - beta) == pytest.approx(math.log(q / (1 - q)), abs=1e-6)


def test_the_bound_grows_with_correct_guesses_and_is_zero_at_chance():
    bounds = [epsilon_lower_bound(1000, 200, v, 1e-5, 0.95) for v in range(100, 201, 5)]
    assert bounds[0] == 0.0
    assert all(b2 >= b1 for b1, b2 in itertools.pairwise(bounds))
    assert bounds[-1] > bounds[len(bounds) // 2] > 0


def test_guesses_split_between_the_highest_and_lowest_scores():
    scores = np.array([0.5, 3.0, -2.0, 1.0, -1.0])
    assert guesses(scores, 3).tolist() == [0, 1, -1, 1, 0]


def gaussian_audit(sigma: float, m: int, seed: int) -> float:
    """Each canary is its own Gaussian mechanism on a scalar: release coin + N(0, sigma^2), sensitivity 1."""
    rng = np.random.default_rng(seed)
    included = rng.random(m) < 0.5
    scores = included + rng.normal(0, sigma, m)
    return audit(scores, included, 1e-5, 0.95, [0.02, 0.05, 0.1, 0.2, 0.5])[0].epsilon_lower_bound


def test_on_a_gaussian_mechanism_the_bound_stays_below_its_epsilon_and_reveals_no_noise():
    # sigma = 4.84 gives (1, 1e-5)-DP by the classical Gaussian-mechanism bound sqrt(2 ln(1.25/δ)) / ε
    assert max(gaussian_audit(4.84, 5000, seed) for seed in range(5)) < 1.0
    assert min(gaussian_audit(1e-3, 5000, seed) for seed in range(3)) > 5.0


def test_gradient_canaries_are_added_exactly_where_they_are_included():
    model = SmallCNN(1, 3, width=4, embedding_dim=8, norm_groups=2, pool_size=2)
    design = gradient_canaries(50, model, 2.0, design_seed=0, partition_id=1)
    included = inclusion_coins(50, secret_seed=1, partition_id=1)
    params = dict(model.named_parameters())
    for p in params.values():
        p.grad = torch.zeros_like(p)
    assert CanaryGradients(design, included, seed=0).add(params, rate=1.0, divisor=4.0) == int(included.sum())
    for i, (key, offset) in enumerate(zip(design.keys, design.offsets.tolist(), strict=True)):
        assert float(params[key].grad.flatten()[offset]) == (0.5 if included[i] else 0.0)
    assert sum(int((p.grad != 0).sum()) for p in params.values()) == int(included.sum())


def test_canaries_are_rebuilt_identically_and_differ_per_client():
    a, b = input_canaries(20, (1, 8, 10), 3, 0), input_canaries(20, (1, 8, 10), 3, 0)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, input_canaries(20, (1, 8, 10), 3, 1).images)


def test_the_scoring_path_never_reads_the_coins(monkeypatch):
    imports = {n.module for n in ast.walk(ast.parse((ROOT / "fedkd/audit/scoring.py").read_text()))
               if isinstance(n, ast.ImportFrom)}
    assert "fedkd.audit.coins" not in imports

    def forbidden(*_args):
        raise AssertionError("the scorer read the inclusion coins")

    monkeypatch.setattr(coins_module, "inclusion_coins", forbidden)
    for name in ("_task_id", "_run_id", "_node_id"):  # a message is built as a server task would build it
        monkeypatch.setattr(TaskIdentity, name, 1)
    settings = AuditSettings(enabled=True, num_canaries=30, clients=[0])
    scorer = CanaryScorer(settings, (1, 8, 3), lambda: SmallCNN(1, 3, width=4, embedding_dim=8, norm_groups=2,
                                                                 pool_size=2), 1.0)
    model = SmallCNN(1, 3, width=4, embedding_dim=8, norm_groups=2, pool_size=2)
    sent = ArrayRecord(model.state_dict())
    moved = {k: v - 0.1 for k, v in model.state_dict().items()}
    instruction = Message(RecordDict(), dst_node_id=11, message_type="train", group_id="1")
    instruction.metadata.__dict__["_message_id"] = "ins-11"
    reply = Message(RecordDict({"arrays": ArrayRecord(moved), "metrics": MetricRecord({PARTITION_ID: 0})}),
                    reply_to=instruction)
    scorer.observe(sent, [reply])
    assert np.allclose(scorer.scores[0], 0.1, atol=1e-6) and scorer.releases[0] == 1


AUDITED = ["dataset=digits", "lowres=none", "partition=iid", "simulation.num_clients=4", "simulation.backend=inprocess",
           "num_rounds=2", "train.local_epochs=1", "train.optimizer=sgd", "train.lr=0.05", "strategy=fedavg",
           "audit.enabled=true", "audit.num_canaries=2000"]


def read_audit(path: Path) -> dict:
    return json.loads((path / "audit.json").read_text())


def test_a_non_private_run_shows_a_large_bound_and_writes_its_guesses(tmp_path):
    _, _, path = run_tiny(tmp_path, [*AUDITED, "audit.canary_norm=10"])
    report = read_audit(path)
    client = report["clients"][0]
    assert client["claimed_epsilon"] is None and report["claim"].startswith("no DP claim")
    assert client["epsilon_lower_bound"] > 2.5
    assert len(client["coins"]) == len(client["guesses"]) == len(client["scores"]) == 2000
    right = sum(g == (1 if c else -1) for g, c in zip(client["guesses"], client["coins"], strict=True) if g)
    assert right == client["correct_guesses"]


def test_dp_sgd_stays_below_its_claim_and_the_broken_control_exceeds_it(tmp_path):
    dp = [*AUDITED, "privacy=sample", "privacy.target_epsilon=1", "privacy.accountant=rdp"]
    correct = read_audit(run_tiny(tmp_path / "dp", dp)[2])["clients"][0]
    broken = read_audit(run_tiny(tmp_path / "broken", [*dp, "audit.break_dp=no_noise"])[2])
    assert correct["epsilon_lower_bound"] < correct["claimed_epsilon"] <= 1.0 + 1e-6
    assert not correct["leak_shown"]
    assert broken["clients"][0]["leak_shown"] and broken["clients"][0]["epsilon_lower_bound"] > 2.0
    assert "CONTROL" in broken["claim"]["broken"]


@pytest.mark.parametrize(("override", "shown"), [
    (["audit.clients=[5]"], "audit.clients=[5]"),
    (["audit.secret_seed=0"], "audit.secret_seed=0"),
    (["audit.break_dp=no_noise"], "audit.break_dp='no_noise'"),
])
def test_bad_audit_settings_name_the_key(override, shown):
    with pytest.raises(UserError, match=shown.replace("[", r"\[").replace("]", r"\]")):
        load_federated([*AUDITED, *override])


def test_input_canaries_join_the_audited_clients_training_split_only(tmp_path):
    overrides = [*AUDITED, "audit.canary=input", "audit.num_canaries=40", "num_rounds=1"]
    _, clients, path = run_tiny(tmp_path, overrides)
    spec = load_federated(overrides).federation()
    included = read_audit(path)["clients"][0]["canaries_included"]
    trained = {int(c["partition_id"]): int(c["num_examples"]) for c in clients if c["phase"] == "train"}
    assert 0 < included < 40
    assert trained[0] == len(load_client_data(spec, 0).train_y) + included
    assert trained[1] == len(load_client_data(spec, 1).train_y)


def fake_audited_run(root: Path, name: str, method: str, mode: str, claimed: float | None, bound: float) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\n")
    (run / "summary.json").write_text("{}")
    client = {"partition_id": 0, "claimed_epsilon": claimed, "epsilon_lower_bound": bound, "ceiling": 5.9,
              "confidence": 0.95, "num_canaries": 5000, "num_guesses": 100, "correct_guesses": 90}
    (run / "audit.json").write_text(json.dumps({"method": method, "mode": mode, "seed": 0, "delta": 1e-5,
                                                "canary": "gradient", "clients": [client]}))
    return run


def test_the_audit_plot_writes_one_row_per_audited_release(tmp_path, capsys):
    fake_audited_run(tmp_path, "a", "fedavg", "sample-level DP-SGD", 4.0, 0.3)
    fake_audited_run(tmp_path, "b", "fedavg", "broken control (σ = 0)", 4.0, 5.4)
    fake_audited_run(tmp_path, "c", "fedckd", "non-private", None, 5.5)
    plot.main(["privacy-audit", str(tmp_path)])
    written = capsys.readouterr().out.split()
    assert [Path(p).suffix for p in written] == [".png", ".svg", ".csv"]
    with open(written[-1]) as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["mode"], r["lower_bound"]) for r in rows] == [("sample-level DP-SGD", "0.3"),
                                                              ("broken control (σ = 0)", "5.4"), ("non-private", "5.5")]


def test_the_audit_plot_without_audits_is_one_line(tmp_path, capsys):
    run = fake_audited_run(tmp_path, "a", "fedavg", "non-private", None, 1.0)
    (run / "audit.json").unlink()
    with pytest.raises(SystemExit) as stop:
        plot.main(["privacy-audit", str(tmp_path)])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().endswith("run them with audit.enabled=true")


GEN_TINY = ["dataset=digits", "data.max_train=160", "generator.network.width=8", "generator.noise.num_levels=3",
            "generator.train.epochs=1", "generator.train.batch_size=32", "generator.train.progress=false",
            "evaluation.num_samples=40", "evaluation.evaluator_epochs=1", "evaluation.classifier_epochs=1",
            "evaluation.logreg_max_iter=20", "sampler.evals_per_level=4", "sampler.batch_size=40",
            "audit.enabled=true", "audit.num_canaries=40"]


@pytest.mark.parametrize(("mechanism", "mode"), [
    (["gen_privacy=dp", "gen_privacy.target_epsilon=2"], "DP-SGD (Opacus, Poisson sampling)"),
    (["gen_privacy=projection_perturbation", "audit.canary=input", "gen_privacy.noise_multiplier=2"],
     "projection perturbation (Liu et al. 2023, as built here), clip 10, noise ×2 (not a formal DP guarantee)"),
])
def test_the_generator_audit_names_its_claim_and_labels_an_unproven_mechanism(tmp_path, mechanism, mode):
    run = run_generation(load_generation([*GEN_TINY, *mechanism]), tmp_path)
    report, privacy = read_audit(run), json.loads((run / "privacy.json").read_text())
    entry = report["clients"][0]
    assert report["mode"] == mode and entry["audited"] == "generator"
    assert len(entry["scores"]) == len(entry["coins"]) == 40
    if mode.startswith("DP-SGD"):
        assert entry["claimed_epsilon"] == pytest.approx(2.0, abs=0.01) and report["claim"]["accountant"]
        assert entry["epsilon_lower_bound"] < entry["claimed_epsilon"]
    else:
        assert entry["claimed_epsilon"] is None and "not a formal" in report["claim"]["guarantee"]
        assert set(privacy["clipped_fraction"]) == {"half_sq_norm", "projected", "curvature"}
        assert privacy["gradient_noise"].startswith("none: the SSM-VR loss")


def test_generator_canaries_are_private_records(tmp_path):
    config = load_generation([*GEN_TINY, "audit.canary=input"])
    data = load_data(config)
    audited = with_gen_canaries(data, config.audit)
    included = int(inclusion_coins(40, config.audit.secret_seed, 0).sum())
    assert len(audited.train_x) == len(data.train_x) + included
    assert torch.equal(audited.test_x, data.test_x)
    assert float(audited.train_x[len(data.train_x):].sum(dim=(1, 2, 3)).max()) == config.audit.canary_pixels


def test_generator_gradient_canaries_score_the_drop_of_their_weight_from_the_start():
    config = load_generation([*GEN_TINY, "audit.num_canaries=30"])
    model = SmallCNN(1, 3, width=4, embedding_dim=8, norm_groups=2, pool_size=2)
    planted = PlantedGradients(config.audit, model, norm=2.0, seed=0)
    canaries = planted.started(model)
    params = dict(model.named_parameters())
    for p in params.values():
        p.grad = torch.zeros_like(p)
    canaries.add(params, rate=1.0, divisor=4.0)
    with torch.no_grad():
        for p in params.values():
            p -= 0.1 * p.grad  # one plain gradient step
    scores = weight_drop_scores(planted.design, planted.start, model)
    assert np.allclose(scores, np.where(planted.included.numpy(), 0.1 * 2.0 / 4.0, 0.0), atol=1e-7)


def test_a_generator_run_with_gradient_canaries_writes_their_audit(tmp_path):
    report = read_audit(run_generation(load_generation(GEN_TINY), tmp_path))
    entry = report["clients"][0]
    assert report["canary"] == "gradient" and entry["claimed_epsilon"] is None and report["mode"] == "non-private"
    assert entry["coins"] == inclusion_coins(40, 1, 0).int().tolist()
    right = sum(g == (1 if c else -1) for g, c in zip(entry["guesses"], entry["coins"], strict=True) if g)
    assert right == entry["correct_guesses"] and sum(map(abs, entry["guesses"])) == entry["num_guesses"]


def test_gradient_canaries_cannot_audit_projection_perturbation():
    with pytest.raises(UserError, match=r"audit\.canary='gradient'.*input with gen_privacy=projection_perturbation"):
        load_generation([*GEN_TINY, "gen_privacy=projection_perturbation"])


def test_the_generator_broken_control_exceeds_its_claim_while_the_accountant_still_reports_it(tmp_path):
    dp = [*GEN_TINY, "gen_privacy=dp", "gen_privacy.target_epsilon=1", "audit.num_canaries=2000",
          "generator.train.epochs=6", "generator.train.ema_decay=0.5"]
    correct = read_audit(run_generation(load_generation(dp), tmp_path / "dp"))
    broken = read_audit(run_generation(load_generation([*dp, "audit.break_dp=no_noise"]), tmp_path / "broken"))
    assert broken["clients"][0]["claimed_epsilon"] == pytest.approx(correct["clients"][0]["claimed_epsilon"])
    assert broken["mode"] == "broken control (σ = 0)" and "CONTROL" in broken["claim"]["broken"]
    assert not correct["clients"][0]["leak_shown"]
    assert broken["clients"][0]["epsilon_lower_bound"] > correct["clients"][0]["epsilon_lower_bound"] + 0.5


@pytest.mark.parametrize("broken", [False, True])
def test_image_canaries_run_the_broken_control_too(tmp_path, monkeypatch, broken):
    """The broken control reaches DP-SGD with image canaries as with gradient canaries; without DP it is refused."""
    import private_gen.score_model as score_model

    seen = {}
    real = score_model.train_score_dp_sgd

    def spy(*args, **kwargs):
        seen["broken"] = kwargs["broken_no_noise"]
        return real(*args, **kwargs)

    monkeypatch.setattr(score_model, "train_score_dp_sgd", spy)
    control = ["audit.break_dp=no_noise"] if broken else []
    dp = [*GEN_TINY, "audit.canary=input", "gen_privacy=dp", "gen_privacy.target_epsilon=2", *control]
    report = read_audit(run_generation(load_generation(dp), tmp_path))
    assert seen["broken"] is broken and (report["mode"] == "broken control (σ = 0)") is broken
    with pytest.raises(UserError, match=r"audit\.break_dp='no_noise'.*none unless gen_privacy=dp"):
        load_generation([*GEN_TINY, "audit.canary=input", "audit.break_dp=no_noise"])
