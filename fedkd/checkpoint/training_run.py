"""The run-directory lifecycle of a checkpointed training command (`fedkd-gen`, `fedkd-faces`): a new run
writes its resume file, a resumed one reopens its directory after checking its config, and the work runs
with its stage checkpoints installed and SIGINT/SIGTERM turned into a checkpoint and exit code 130."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

from fedkd.checkpoint.checkpointer import CHECKPOINTS
from fedkd.checkpoint.interrupts import stop_on_signals
from fedkd.checkpoint.resume import check_resumable, fingerprint, resumable_dir, task_overrides, write_resume_file
from fedkd.checkpoint.training_checkpoint import TrainingCheckpoints, active
from fedkd.results.run_dir import RunDirectory, Work, write_run


def write_checkpointed_run(settings: Any, command: str, work: Work, root: Path | None = None) -> Path:
    """`write_run` for `settings` (which has `output`, `checkpoint` and `resume`), continuing the run that
    `settings.resume` names; a finished run deletes its checkpoints and reports their sizes in its summary."""
    existing = resumable_dir(settings.resume) if settings.resume else None
    if existing is not None:
        check_resumable(existing, settings)
        TrainingCheckpoints(existing, fingerprint(settings), settings.checkpoint.every, command).verify()

    def checkpointed(run: RunDirectory) -> tuple[dict[str, Any], str]:
        checkpoints = None
        if settings.checkpoint.enabled:
            if existing is None:
                write_resume_file(run.path, command, task_overrides(), settings)
            checkpoints = TrainingCheckpoints(run.path, fingerprint(settings), settings.checkpoint.every, command)
        # without checkpoints there is nothing to stop at an epoch's end for: Ctrl-C stops at once
        stopping = stop_on_signals() if checkpoints else contextlib.nullcontext()
        with stopping, active(checkpoints):
            summary, table = work(run)
        shutil.rmtree(run.path / CHECKPOINTS, ignore_errors=True)  # finished: nothing is left to resume
        return ({**summary, "checkpoint_bytes": checkpoints.summary()} if checkpoints else dict(summary)), table

    return write_run(settings, settings.output, checkpointed, root, existing)
