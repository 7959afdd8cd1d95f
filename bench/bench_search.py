"""Does TPE with pruning find a good configuration sooner than random search without pruning?

Three searches get the same wall-time budget on the same data, over several seeds: random
search without pruning (the anchor), TPE without pruning, and TPE with pruning (median by
default). Each uses topnet's default search space for the data (MLPs for MNIST-1D, convnets for
Fashion-MNIST images) and the same fit settings. For each, the best-so-far validation accuracy is
read at fractions of the budget (median over seeds, with the range); then the time TPE+pruning
needs to reach the final best of random search with the same seed. The last line is the ratio
of that time to the time random search needed to reach its own final best (median over seeds;
below 1 means TPE+pruning gets there sooner; inf when it never does within the budget).

    python bench/bench_search.py                                    # the real measurement
    python bench/bench_search.py --datasets mnist1d --budget 8 --seeds 1 --max-samples 1000 --epochs 2   # smoke test
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import tempfile
import time

import torch

from topnet.tune import DataSpec, prepare_splits, tune
from topnet.tune._optuna import import_optuna

ARMS = {"random": ("random", "none"), "tpe": ("tpe", "none"), "tpe+prune": ("tpe", "median")}
FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mnist1d,fashion-mnist", help="comma-separated dataset names")
    parser.add_argument("--budget", type=float, default=300, help="seconds per search")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per trial")
    parser.add_argument("--max-samples", type=int, default=6000, help="samples of each dataset's training pool")
    parser.add_argument("--pruner", default="median", help="the pruner of the tpe+prune arm (median, asha, hyperband)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default=None, help="also write the raw curves here")
    return parser.parse_args()


def machine() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU, {os.cpu_count()} cores"
    return (f"machine: {platform.node()} ({platform.machine()}, {device}, {torch.get_num_threads()} torch threads); "
            f"torch {torch.__version__}; python {platform.python_version()}; "
            f"{datetime.datetime.now().isoformat(timespec='seconds')}")


def search(splits, arm: str, seed: int, args: argparse.Namespace) -> list[tuple[float, float]]:
    """One search; returns (seconds since its start, best-so-far accuracy) at each improvement."""
    sampler, pruner = ARMS[arm]
    pruner = args.pruner if pruner != "none" else pruner
    with tempfile.TemporaryDirectory() as out:
        started = time.time()
        result = tune(None, splits, budget=args.budget, sampler=sampler, pruner=pruner, seed=seed, out=out,
                      epochs=args.epochs, device=args.device, plots=False, verbose=0)
        finished = [t for t in result.study.trials if t.state.name == "COMPLETE" and t.value is not None]
    curve, best = [], -math.inf
    for trial in sorted(finished, key=lambda t: t.datetime_complete):
        if trial.value > best:
            best = trial.value
            curve.append((trial.datetime_complete.timestamp() - started, best))
    return curve


def best_at(curve: list[tuple[float, float]], seconds: float) -> float:
    values = [value for t, value in curve if t <= seconds]
    return values[-1] if values else math.nan


def time_to(curve: list[tuple[float, float]], target: float) -> float:
    return next((t for t, value in curve if value >= target), math.inf)


def spread(values: list[float]) -> str:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return "     -"
    return f"{statistics.median(finite):.4f} [{min(finite):.4f}, {max(finite):.4f}]"


def bench_dataset(name: str, args: argparse.Namespace) -> list[float]:
    splits, _ = prepare_splits(DataSpec(name, valid=0.2, blend=0.1, max_samples=args.max_samples))
    warm_up = argparse.Namespace(**{**vars(args), "budget": 2.0, "epochs": 1})
    search(splits, "random", 0, warm_up)  # first-call costs (allocator, kernels) not charged to one arm
    curves: dict[str, list] = {arm: [] for arm in ARMS}
    for seed in range(args.seeds):  # arms interleaved, so a slower spell of the machine hits all of them
        for arm in ARMS:
            curves[arm].append(search(splits, arm, seed, args))
    print(f"\n{name}: {len(splits.train)} train / {len(splits.valid)} valid, {args.epochs} epochs per trial, "
          f"{args.budget:.0f}s per search, {args.seeds} seeds; best-so-far val_accuracy, median [min, max]")
    print(f"{'arm':<10}" + "".join(f"{f'{int(f * 100)}% budget':>28}" for f in FRACTIONS))
    for arm, runs in curves.items():
        print(f"{arm:<10}" + "".join(f"{spread([best_at(c, f * args.budget) for c in runs]):>28}" for f in FRACTIONS))
    ratios = []
    for random_curve, pruned_curve in zip(curves["random"], curves["tpe+prune"]):
        if not random_curve:
            continue
        target = random_curve[-1][1]
        reach, anchor = time_to(pruned_curve, target), time_to(random_curve, target)
        ratios.append(reach / anchor if anchor > 0 else math.inf)
        when = f"{reach:.1f}s" if math.isfinite(reach) else "never (within the budget)"
        print(f"seed {len(ratios) - 1}: random's final best {target:.4f}: random reached it at {anchor:.1f}s, "
              f"tpe+prune {when}")
    if args.json:
        with open(args.json, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"dataset": name, "args": vars(args), "curves": curves}) + "\n")
    return ratios


def main() -> None:
    args = parse()
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one table at the end, not a line per study
    print(machine())
    ratios = []
    for name in args.datasets.split(","):
        ratios += bench_dataset(name.strip(), args)
    median = statistics.median(ratios) if ratios else math.nan
    print(f"ratio (time tpe+prune needs to reach random search's final best / time random search needed), "
          f"median over {len(ratios)} runs: {median:.2f}")


if __name__ == "__main__":
    main()
