"""Inference speed of the LR face students and of the HR teacher on this machine's CPU.

Usage: python benchmarks/face_student_speed.py [--batch 1024] [--repeats 5] [--threads 2]

Faces per second of the embedding network (classifier head excluded), eval mode, under
torch.inference_mode, batch inference, for several ways of running the same weights:
  eager             plain PyTorch
  channels_last     eager with NHWC memory layout
  torchscript       torch.jit.trace + torch.jit.optimize_for_inference (freezes the module, folds
                    BatchNorm into the convolutions, picks oneDNN kernels)
  compile           torch.compile (Inductor, default mode)
Students at 16×16 in several widths (the default is [24, 48, 96]); teacher at 64×64. All timings of a
row come from one process run, interleaved round by round, median of `--repeats` rounds after two
warm-ups; every mode is first checked to reproduce the eager embeddings (to 1e-3).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch import nn

from fedkd.models.face_resnet import ResNetFace
from fedkd.models.lr_student import LRStudent, size_megabytes


class EmbeddingOnly(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.embedding(x)


def variants(model: nn.Module, example: torch.Tensor) -> dict[str, tuple[nn.Module, torch.Tensor]]:
    eager = EmbeddingOnly(model).eval()
    with torch.inference_mode():
        scripted = torch.jit.optimize_for_inference(torch.jit.trace(eager, example[:8]))
    channels_last = EmbeddingOnly(model).eval().to(memory_format=torch.channels_last)
    return {"eager": (eager, example),
            "channels_last": (channels_last, example.contiguous(memory_format=torch.channels_last)),
            "torchscript": (scripted, example),
            "compile": (torch.compile(eager), example)}


def interleaved_speeds(runs: dict[str, tuple[nn.Module, torch.Tensor]], repeats: int) -> dict[str, float]:
    """Faces/s of each mode: two warm-up calls each, then `repeats` rounds timing every mode once per
    round (so a slow stretch of the machine hits all modes alike); median over rounds."""
    times: dict[str, list[float]] = {mode: [] for mode in runs}
    with torch.inference_mode():
        reference = runs["eager"][0](runs["eager"][1])
        for mode, (run, x) in runs.items():
            out = run(x)
            run(x)
            if not torch.allclose(out, reference, atol=1e-3, rtol=1e-3):
                raise RuntimeError(f"{mode} does not reproduce the eager embeddings")
        for _ in range(repeats):
            for mode, (run, x) in runs.items():
                start = time.perf_counter()
                run(x)
                times[mode].append(time.perf_counter() - start)
    return {mode: len(runs[mode][1]) / statistics.median(t) for mode, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {f"student 16px {w}": (LRStudent(3, 150, 16, w), 16)
              for w in ((16, 32, 64), (24, 48, 96), (32, 64, 128))}
    models["teacher 64px"] = (ResNetFace(3, 150), 64)
    print(f"batch {args.batch}, {args.threads} threads, torch {torch.__version__}")
    print(f"{'model':<28} {'params':>8} {'MB':>6} " + " ".join(f"{m:>14}" for m in
                                                            ("eager", "channels_last", "torchscript", "compile")))
    results = {}
    for name, (model, side) in models.items():
        model.eval()
        params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("head."))
        megabytes = size_megabytes(model) - model.head.weight.numel() * 4 / 1e6
        x = torch.rand(args.batch, 3, side, side)
        speeds = interleaved_speeds(variants(model, x), args.repeats)
        results[name] = speeds
        print(f"{name:<28} {params:>8,} {megabytes:>6.3f} " + " ".join(f"{v:>14,.0f}" for v in speeds.values()),
              flush=True)
    best_student = max(results["student 16px (24, 48, 96)"].values())
    best_teacher = max(results["teacher 64px"].values())
    print(f"default student / teacher speed (best mode each): {best_student / best_teacher:.1f}x")


if __name__ == "__main__":
    main()
