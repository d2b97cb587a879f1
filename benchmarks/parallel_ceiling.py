"""How much faster two client updates run side by side than one after the other on this machine: the ceiling
of any 2-worker simulation speed-up, whatever the runtime (issue 19's target is 1.6× for 2 Ray workers).

Usage: python benchmarks/parallel_ceiling.py [--repeats 6] [--workers 2] [hydra overrides...]

Each worker is a separate process running the default job's client update (client 0's data, train only,
1 torch thread) `repeats` times. First one worker alone, then `workers` at once; the ceiling is
workers × (time alone) / (time of the concurrent run). Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time


def _updates(overrides: list[str], repeats: int, start: mp.Event, out: mp.Queue) -> None:
    import torch

    from fedkd.app.experiment_config import load_federated
    from fedkd.data.federated import data_shape, load_client_data
    from fedkd.training.local import train_local

    torch.set_num_threads(1)
    config = load_federated(overrides)
    data = load_client_data(config.federation(), 0)
    model = config.new_model(data_shape(config.federation()))
    train_local(model, data.train_x, data.train_y, config.train, seed=0)  # warm-up
    start.wait()
    began = time.perf_counter()
    for r in range(repeats):
        train_local(config.new_model(data_shape(config.federation())), data.train_x, data.train_y, config.train,
                    seed=r)
    out.put(time.perf_counter() - began)


def timed(workers: int, overrides: list[str], repeats: int) -> float:
    """Wall seconds until all `workers` processes finished their updates (started together after warm-up)."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_updates, args=(overrides, repeats, start, out)) for _ in range(workers)]
    for p in procs:
        p.start()
    time.sleep(8)  # imports, data and warm-up in every process before the clock starts
    start.set()
    seconds = max(out.get() for _ in procs)
    for p in procs:
        p.join()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args, overrides = parser.parse_known_args()
    alone = timed(1, overrides, args.repeats)
    together = timed(args.workers, overrides, args.repeats)
    print(f"{args.repeats} client updates, 1 process: {alone:.2f} s ({alone / args.repeats:.3f} s each)")
    print(f"{args.repeats} client updates in each of {args.workers} processes at once: {together:.2f} s")
    print(f"ceiling of a {args.workers}-worker speed-up here: {args.workers * alone / together:.2f}×")


if __name__ == "__main__":
    main()
