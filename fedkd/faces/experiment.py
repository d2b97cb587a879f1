"""One face-distillation experiment: teacher (cached), LR student by the chosen method, protocols, run dir."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from hydra.utils import instantiate

from fedkd.data.federated import load_image_data
from fedkd.data.lowres import LowResolution
from fedkd.faces.adabn import adapt_batchnorm
from fedkd.faces.evaluation import embed, protocol_metrics
from fedkd.faces.face_split import FaceSplit, split_identities
from fedkd.faces.networks import build_student
from fedkd.faces.report import headline
from fedkd.faces.schedules import SCHEDULES, DistillationContext
from fedkd.faces.student_net import parameter_count, size_megabytes
from fedkd.faces.teacher_store import load_or_train_teacher, teacher_data_key
from fedkd.paths import expand


def load_split(config: dict[str, Any]) -> FaceSplit:
    data = load_image_data(config["dataset"], config["data_cache"])
    return split_identities(data, config["evaluation"]["eval_identities"], config["evaluation"]["split_seed"])


def degrade(config: dict[str, Any], images: torch.Tensor, seed: int) -> torch.Tensor:
    lr = config["lowres"]
    transform = LowResolution(lr["size"], lr["kernel"], lr["blur_sigma"], lr["noise_std"], upsample=False)
    return transform(images, torch.Generator().manual_seed(seed))


def student_size(student: torch.nn.Module) -> dict[str, float]:
    """Deployed size: the embedding network without the training classifier head."""
    backbone = sum(p.numel() for n, p in student.named_parameters() if not n.startswith("head."))
    head = parameter_count(student) - backbone
    return {"student_parameters": backbone, "student_head_parameters": head,
            "student_megabytes": size_megabytes(student) - head * 4 / 1e6}


def run_face_experiment(config: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Train (or load) the teacher, distil the student, evaluate both; write results under `out_dir`."""
    started = time.perf_counter()
    split = load_split(config)
    eval_cfg, seed = config["evaluation"], config["seed"]
    data_key = teacher_data_key(config["dataset"], eval_cfg["eval_identities"], eval_cfg["split_seed"])
    teacher, route, teacher_path = load_or_train_teacher(split, config["teacher"], expand(config["data_cache"]),
                                                         data_key)
    teacher_hr = embed(teacher, split.eval_hr, eval_cfg["flip"])
    metrics: dict[str, Any] = {f"teacher_hr_{k}": v for k, v in
                               protocol_metrics(teacher_hr, split.eval_y, eval_cfg, eval_cfg["split_seed"]).items()}
    eval_lr = degrade(config, split.eval_hr, seed=10_007)
    upsampled = F.interpolate(eval_lr, size=split.eval_hr.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    metrics |= {f"teacher_lr_upsampled_{k}": v for k, v in protocol_metrics(
        embed(teacher, upsampled, eval_cfg["flip"]), split.eval_y, eval_cfg, eval_cfg["split_seed"]).items()}

    method = config["face_method"]
    torch.manual_seed(seed)
    student = build_student(config["student"], split.train_hr.shape[1], split.num_train_identities,
                            config["lowres"]["size"], config["teacher"]["embedding_dim"])
    context = DistillationContext(
        student=student, teacher=teacher, route=route, distiller=instantiate(method["distiller"]),
        train_hr=split.train_hr, train_lr=degrade(config, split.train_hr, seed=seed), train_y=split.train_y,
        method=method, student_train=config["student"]["train"], teacher_cfg=config["teacher"], seed=seed)
    history = SCHEDULES[method["schedule"]](context)
    if method["adabn"]:
        adapt_batchnorm(student, eval_lr)
    student_lr = embed(student, eval_lr, eval_cfg["flip"])
    metrics |= {f"student_{k}": v for k, v in protocol_metrics(
        student_lr, split.eval_y, eval_cfg, eval_cfg["split_seed"], gallery_embeddings=teacher_hr).items()}
    metrics |= student_size(student) | {"teacher_parameters": sum(p.numel() for n, p in teacher.named_parameters()
                                                                  if not n.startswith("head.")),
                                        "seconds": time.perf_counter() - started}
    _write(out_dir, config, history, metrics, student, teacher_path)
    return metrics


def _write(out_dir: Path, config: dict[str, Any], history: list[dict[str, float]], metrics: dict[str, Any],
           student: torch.nn.Module, teacher_path: Path) -> None:
    """Write everything into `<out_dir>.incomplete`, then rename it into place (replacing an older run)."""
    staging = out_dir.with_name(out_dir.name + ".incomplete")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with open(staging / "history.jsonl", "w") as fh:
        for row in history:
            fh.write(json.dumps(row) + "\n")
    summary = {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in metrics.items()}
    summary["teacher_checkpoint"] = str(teacher_path)
    (staging / "metrics.json").write_text(json.dumps(summary, indent=2))
    (staging / "summary.md").write_text("```\n" + headline(summary) + "\n```\n")
    torch.save(student.state_dict(), staging / "student.pt")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
