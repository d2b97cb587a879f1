"""Plain supervised classification of the (LR) data set with the configured model."""

from __future__ import annotations

from dataclasses import dataclass

from fedkd.workloads.workload_settings import WorkloadSettings


@dataclass
class ClassifierWorkload(WorkloadSettings):
    """`workload=classifier`: the FL method's objective alone."""

    name: str = "classifier"
