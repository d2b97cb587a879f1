"""Human-readable summary lines of a face experiment's metrics."""

from __future__ import annotations

from typing import Any


def headline(metrics: dict[str, Any]) -> str:
    def row(prefix: str, label: str) -> str:
        return (f"{label:<24} verification {metrics[f'{prefix}_verification_accuracy']:.3f} "
                f"± {metrics[f'{prefix}_verification_accuracy_std']:.3f}  "
                f"TAR@FAR=1e-3 {metrics.get(f'{prefix}_verification_tar@far=0.001', float('nan')):.3f}  "
                f"rank-1 {metrics[f'{prefix}_rank1']:.3f}  rank-5 {metrics[f'{prefix}_rank5']:.3f}")

    lines = [row("teacher_hr", "teacher (HR)"), row("teacher_lr_upsampled", "teacher (LR, upsampled)"),
             row("student", "student (LR)"),
             f"{'student cross-resolution':<24} rank-1 {metrics['student_cross_resolution_rank1']:.3f} "
             f"(LR probes vs the teacher's HR gallery)",
             f"student: {metrics['student_parameters']:,} parameters, {metrics['student_megabytes']:.3f} MB"]
    return "\n".join(lines)
