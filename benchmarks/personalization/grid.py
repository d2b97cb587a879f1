"""What the comparison runs: data sets, partitions, methods, seeds, and the overrides of every run.

Tuning and reporting share everything except the seed (tuning: TUNING_SEED; report: REPORT_SEEDS, disjoint)
and the evaluated split (tuning scores validation, fedkd-tune forces it; report runs score test).
"""

from __future__ import annotations

from dataclasses import dataclass

COMMON = ("simulation.num_clients=20", "simulation.fraction_train=0.5", "simulation.fraction_evaluate=1.0",
          "simulation.backend=inprocess", "partition.validation_fraction=0.15")
DATASETS: dict[str, tuple[str, ...]] = {
    "digits": ("dataset=digits", "lowres=none", "num_rounds=30", "simulation.evaluate_every=5"),
    "mnist": ("dataset=mnist_subset", "lowres=lr16", "num_rounds=30", "simulation.evaluate_every=5"),
    "faces": ("dataset=faces", "dataset.num_identities=100", "lowres=lr16", "num_rounds=40",
              "simulation.evaluate_every=5"),
    "lr_faces": ("dataset=faces", "dataset.num_identities=150", "lowres=lr16", "workload=face_kd",
                 "model=lr_student", "num_rounds=40", "simulation.evaluate_every=5"),
}
PARTITIONS: dict[str, tuple[str, ...]] = {
    "dir0.1": ("partition=dirichlet", "partition.alpha=0.1"),
    "dir0.5": ("partition=dirichlet", "partition.alpha=0.5"),
    "path2": ("partition=pathological", "partition.labels_per_client=2"),
}
TUNING_PARTITION = "dir0.1"
METHODS: dict[str, str] = {
    "local": "Local only", "fedavg": "FedAvg", "fedavg_ft": "FedAvg+FT", "fedprox": "FedProx", "fedbn": "FedBN",
    "ditto": "Ditto", "fedper": "FedPer", "fedrep": "FedRep", "pfedsd": "pFedSD", "fedckd": "FedCKD",
}
TUNING_SEED = 100
REPORT_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Run:
    dataset: str
    partition: str
    method: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.dataset}-{self.partition}-{self.method}-s{self.seed}"

    def overrides(self, tuned: list[str]) -> list[str]:
        return [*COMMON, *DATASETS[self.dataset], *PARTITIONS[self.partition], f"strategy={self.method}", *tuned,
                f"seed={self.seed}", f"output.name={self.key}"]


def tuning_overrides(dataset: str, method: str, fixed: tuple[str, ...] = ()) -> tuple[str, ...]:
    return (*COMMON, *DATASETS[dataset], *PARTITIONS[TUNING_PARTITION], f"strategy={method}", *fixed,
            f"seed={TUNING_SEED}")
