"""A sweep (`-m`) re-run with the same `hydra.sweep.dir` skips the jobs that finished and resumes the ones
that were interrupted.

A job is matched to an earlier run directory in the sweep folder by its config's fingerprint (the resolved
config without `resume` and `checkpoint`): a finished run's comes from its config.yaml, an unfinished one's
from its `checkpoints/resume.json`. Jobs that differ only in `checkpoint.*` are therefore the same job.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from fedkd.checkpoint.checkpointer import checkpoints_dir
from fedkd.checkpoint.resume import RESUME_FILE, fingerprint, fingerprint_of, resume_fingerprint
from fedkd.results.run_dir import CONFIG, FAILED, INCOMPLETE, SUMMARY_JSON

T = TypeVar("T")


def _finished_fingerprint(path: Path) -> str | None:
    if not ((path / SUMMARY_JSON).is_file() and (path / CONFIG).is_file()):
        return None
    try:
        resolved = yaml.safe_load((path / CONFIG).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return fingerprint_of(resolved) if isinstance(resolved, dict) else None


def _unfinished_fingerprint(path: Path) -> str | None:
    """Only a run with a checkpoint to go on from counts; one stopped before its first is started again."""
    directory = checkpoints_dir(path)
    if not (directory / RESUME_FILE).is_file() or not any(directory.glob("*.ckpt")):
        return None
    return resume_fingerprint(path)


def earlier_run(sweep_root: Path, settings: Any) -> tuple[bool, Path] | None:
    """(finished, directory) of this job's earlier run in the sweep folder; None if it has none. A finished
    run wins over an unfinished one; among unfinished ones the newest is taken."""
    if not sweep_root.is_dir():
        return None
    target = fingerprint(settings)
    unfinished = None
    for path in sorted(p for p in sweep_root.iterdir() if p.is_dir()):
        if path.name.endswith((INCOMPLETE, FAILED)):
            if _unfinished_fingerprint(path) == target:
                unfinished = path
        elif _finished_fingerprint(path) == target:
            return True, path
    return (False, unfinished) if unfinished is not None else None


def sweep_job(sweep_root: Path, settings: T) -> tuple[T, Path | None]:
    """The job's settings (set to resume its interrupted run, if it has one) and, if it already finished,
    that run's directory."""
    found = earlier_run(sweep_root, settings)
    if found is None:
        return settings, None
    finished, path = found
    if finished:
        return settings, path
    return dataclasses.replace(settings, resume=str(path)), None
