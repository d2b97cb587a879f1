"""How hard is the embedded face set at each resolution? Centralised closed-set identification
with the default SmallCNN: per identity, 70% of images train and 30% test.

Usage: python benchmarks/face_difficulty.py [--sizes 16 32 64] [--epochs 15] [--identities 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from fedkd.data.synthetic_faces import FaceSpec, generate_faces
from fedkd.models.small_cnn import SmallCNN
from fedkd.training.local import evaluate, train_local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--identities", type=int, default=200)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    spec = FaceSpec(num_identities=args.identities, images_per_identity=args.images, resolution=max(args.sizes))
    images, labels = generate_faces(spec)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(labels)
    is_train = torch.from_numpy(np.arange(len(labels)) % args.images < round(0.7 * args.images))
    train_cfg = {"local_epochs": args.epochs, "batch_size": 32, "optimizer": "adam", "lr": 1e-3,
                 "momentum": 0.9, "weight_decay": 0.0}
    print(f"{args.identities} identities x {args.images} images, {args.epochs} epochs, "
          f"chance {1 / args.identities:.3f}")
    print("| side (px) | test accuracy | train s |")
    print("|---:|---:|---:|")
    for side in args.sizes:
        xs = F.interpolate(x, size=(side, side), mode="area") if side != x.shape[-1] else x
        torch.manual_seed(args.seed)
        model = SmallCNN(3, args.identities)
        start = time.perf_counter()
        train_local(model, xs[is_train], y[is_train], train_cfg, seed=args.seed)
        acc = evaluate(model, xs[~is_train], y[~is_train])["accuracy"]
        print(f"| {side} | {acc:.3f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
