"""One face-distillation experiment: teacher (cached), LR student by the chosen method, protocols, run dir."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from fedkd.checkpoint.training_run import write_checkpointed_run
from fedkd.data.lowres import LowResolution
from fedkd.data.sources import load_image_data
from fedkd.face_experiment.config import FacesConfig
from fedkd.face_experiment.report import headline
from fedkd.faces.evaluation import embed, protocol_metrics
from fedkd.faces.face_split import FaceSplit, split_identities
from fedkd.faces.schedules import SCHEDULES, DistillationContext
from fedkd.faces.teacher_store import load_or_train_teacher, teacher_data_key
from fedkd.models.lr_student import parameter_count, size_megabytes
from fedkd.paths import expand
from fedkd.results.run_dir import RunDirectory
from fedkd.training.adabn import adapt_batchnorm


def load_split(config: FacesConfig) -> FaceSplit:
    data = load_image_data(config.dataset, expand(config.data_cache))
    return split_identities(data, config.evaluation.eval_identities, config.evaluation.split_seed)


def degrade(lowres: LowResolution, images: torch.Tensor, seed: int) -> torch.Tensor:
    transform = LowResolution(size=lowres.size, kernel=lowres.kernel, blur_sigma=lowres.blur_sigma,
                              noise_std=lowres.noise_std, upsample=False)
    return transform(images, torch.Generator().manual_seed(seed))


def student_size(student: torch.nn.Module) -> dict[str, float]:
    """Deployed size: the embedding network without the training classifier head."""
    backbone = sum(p.numel() for n, p in student.named_parameters() if not n.startswith("head."))
    head = parameter_count(student) - backbone
    return {"student_parameters": backbone, "student_head_parameters": head,
            "student_megabytes": size_megabytes(student) - head * 4 / 1e6}


def distil_and_evaluate(config: FacesConfig, split: FaceSplit, run: RunDirectory) -> tuple[Mapping[str, Any], str]:
    """Train (or load) the teacher, distil the student, evaluate both; writes history.jsonl and student.pt
    into `run` and returns the summary (every metric) and its text."""
    started = time.perf_counter()
    evaluation, seed = config.evaluation, config.seed
    data_key = teacher_data_key(config.dataset, evaluation.eval_identities, evaluation.split_seed)
    teacher, route, teacher_path = load_or_train_teacher(split, config.teacher, expand(config.data_cache), data_key)
    teacher_hr = embed(teacher, split.eval_hr, evaluation.flip)
    metrics: dict[str, Any] = {f"teacher_hr_{k}": v for k, v in
                               protocol_metrics(teacher_hr, split.eval_y, evaluation, evaluation.split_seed).items()}
    eval_lr = degrade(config.lowres, split.eval_hr, seed=10_007)
    upsampled = F.interpolate(eval_lr, size=split.eval_hr.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    metrics |= {f"teacher_lr_upsampled_{k}": v for k, v in protocol_metrics(
        embed(teacher, upsampled, evaluation.flip), split.eval_y, evaluation, evaluation.split_seed).items()}

    method = config.face_method
    torch.manual_seed(seed)
    student = config.student.build(split.train_hr.shape[1], split.num_train_identities, config.lowres.size,
                                   config.teacher.embedding_dim)
    context = DistillationContext(
        student=student, teacher=teacher, route=route, distiller=instantiate(method.distiller),
        train_hr=split.train_hr, train_lr=degrade(config.lowres, split.train_hr, seed=seed), train_y=split.train_y,
        method=method, student_train=config.student.train, teacher_settings=config.teacher, seed=seed)
    history = SCHEDULES[method.schedule].train(context)
    if method.adabn:
        adapt_batchnorm(student, eval_lr)
    student_lr = embed(student, eval_lr, evaluation.flip)
    metrics |= {f"student_{k}": v for k, v in protocol_metrics(
        student_lr, split.eval_y, evaluation, evaluation.split_seed, gallery_embeddings=teacher_hr).items()}
    metrics |= student_size(student) | {"teacher_parameters": sum(p.numel() for n, p in teacher.named_parameters()
                                                                  if not n.startswith("head.")),
                                        "seconds": time.perf_counter() - started}
    summary = {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in metrics.items()}
    summary["teacher_checkpoint"] = str(teacher_path)
    run.write_jsonl("history.jsonl", history)
    torch.save(student.state_dict(), run.path / "student.pt")
    print(headline(summary))
    return summary, "```\n" + headline(summary) + "\n```"


def run_faces(config: FacesConfig, root: Path | None = None) -> Path:
    """Load the faces, then distil and evaluate into a new run directory under `root` (default `output.root`),
    or on in the interrupted run `config.resume` names."""
    split = load_split(config)
    return write_checkpointed_run(config, "fedkd-faces", lambda run: distil_and_evaluate(config, split, run), root)
