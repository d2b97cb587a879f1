"""The workloads `workload=<name>` selects. `face_kd` is a YAML preset (configs/workload/face_kd.yaml: it
chooses a teacher and a face method by default) over the `FaceKDWorkload` schema."""

from __future__ import annotations

from fedkd.config.registry import Registry
from fedkd.workloads.classifier import ClassifierWorkload
from fedkd.workloads.face_kd import FaceKDWorkload
from fedkd.workloads.workload_settings import WorkloadSettings

WORKLOADS: Registry[WorkloadSettings | type[WorkloadSettings]] = Registry("workload")
WORKLOADS.add("classifier", ClassifierWorkload())
WORKLOADS.add("face_kd", FaceKDWorkload)
