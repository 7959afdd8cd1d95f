"""Does lr_find's suggestion train as well as the best of a learning-rate grid?

On a Fashion-MNIST subset (standardised on train), a small convnet is trained for a few epochs
with the rate ``lr_find`` suggests and with each rate of a 6-point log grid, from the same
initial weights and batch order, over several seeds. The table gives validation accuracy per
rate (median over seeds, with the range); the last line is the gap, in accuracy points, between
the suggestion and the grid's best (median over seeds; negative = the suggestion is worse).

    python bench/bench_lr_find.py                                  # the real measurement
    python bench/bench_lr_find.py --epochs 1 --subset 600 --valid 200 --seeds 1 --num-steps 30   # smoke test
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import numpy as np
import torch

import topnet
from topnet.data import Splits, load, standardize
from topnet.nn import create_model
from topnet.train.lr_finder import lr_find


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per training run")
    parser.add_argument("--subset", type=int, default=12_000, help="training images")
    parser.add_argument("--valid", type=int, default=5_000, help="validation images")
    parser.add_argument("--seeds", type=int, default=3, help="seeds (initial weights and batch order)")
    parser.add_argument("--optimizer", default="adam", help="optimizer name for lr_find and every run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-steps", type=int, default=200, help="lr_find sweep steps")
    parser.add_argument("--grid", default="1e-4,3e-1", help="first,last rate of the 6-point log grid")
    parser.add_argument("--filters", default="16,32", help="small_convnet channels per stage")
    parser.add_argument("--device", default="auto")
    return parser.parse_args()


def machine() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU, {os.cpu_count()} cores"
    return (f"machine: {platform.node()} ({platform.machine()}, {device}); torch {torch.__version__}; "
            f"python {platform.python_version()}; {datetime.datetime.now().isoformat(timespec='seconds')}")


def data(args: argparse.Namespace) -> Splits:
    full = load("fashion-mnist").train
    order = np.random.default_rng(0).permutation(len(full))
    splits = Splits(train=full.take(order[:args.subset]), valid=full.take(order[args.subset:args.subset + args.valid]))
    return standardize(splits)[0]


def build(args: argparse.Namespace, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)  # the initial weights of every run of this seed
    filters = tuple(int(f) for f in args.filters.split(","))
    return create_model("small_convnet", input_shape=(1, 28, 28), num_classes=10, filters=filters, dense=64)


def train(args: argparse.Namespace, splits: Splits, seed: int, lr: float) -> float:
    model = build(args, seed)
    history = topnet.fit(model, splits, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
                         lr=lr, metrics=["accuracy"], seed=seed, device=args.device, verbose=0)
    return 100 * history.history["val_accuracy"][-1]


def main() -> None:
    args = parse()
    print(machine())
    print(f"setting: {args.subset} train / {args.valid} valid images, small_convnet filters={args.filters}, "
          f"{args.optimizer}, batch {args.batch_size}, {args.epochs} epochs, {args.seeds} seeds")
    splits = data(args)
    low, high = (float(v) for v in args.grid.split(","))
    grid = np.geomspace(low, high, 6).tolist()
    accuracy: dict[str, list[float]] = {f"{lr:.2g}": [] for lr in grid}
    suggested, gaps, started = [], [], time.time()
    for seed in range(args.seeds):
        result = lr_find(build(args, seed), splits.train, optimizer=args.optimizer, batch_size=args.batch_size,
                         num_steps=args.num_steps, seed=seed, device=args.device)
        print(f"seed {seed}: lr_find suggests {result.suggestion:.3g} ({result.rule}); "
              f"{ {k: float(f'{v:.3g}') for k, v in result.suggestions.items()} }; {result.verdict}")
        suggested.append((result.suggestion, train(args, splits, seed, result.suggestion)))
        for lr in grid:
            accuracy[f"{lr:.2g}"].append(train(args, splits, seed, lr))
        best = max(values[-1] for values in accuracy.values())
        gaps.append(suggested[-1][1] - best)
    print(f"\n{'learning rate':>20} | {'val accuracy % (median [min, max] over seeds)':<46}")
    rows = [(f"suggested ~{statistics.median(s for s, _ in suggested):.2g}", [a for _, a in suggested])]
    rows += list(accuracy.items())
    for name, values in rows:
        print(f"{name:>20} | {statistics.median(values):6.2f} [{min(values):.2f}, {max(values):.2f}]")
    print(f"time: {time.time() - started:.0f} s")
    print(f"lr_find gap vs best grid rate: {statistics.median(gaps):+.2f} accuracy points "
          f"(median over {args.seeds} seeds; per seed {[round(g, 2) for g in gaps]})")


if __name__ == "__main__":
    main()
