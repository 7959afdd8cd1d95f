"""Does topnet's search find a good configuration sooner than random search without pruning?

Searches get the same wall-time budget on the same data, over several seeds: random search
without pruning (the anchor), TPE without pruning, TPE with pruning (median by default), and
``topnet``, the search `topnet run` makes: the default space's baseline, then its measured
portfolio (`topnet.tune.portfolio`), tried first, then TPE with the median pruner. The first
three use topnet's default search space for the data (conv1d / GRU / MLP signal models for
MNIST-1D, convnets for Fashion-MNIST images) without its baseline and portfolio (``--baseline``
keeps the baseline), so random search is purely random; all use the same fit settings.
``--arms`` picks the arms. The arms run one after the other, interleaved by seed in a rotating
order, so a slower spell of a shared machine hits all of them alike.

For each arm, the best-so-far validation accuracy is read at fractions of the budget (median
over seeds, with the range), and the time each arm needs to reach the final best of random
search with the same seed, with the epochs trained by then (a measure of work that the load of a
shared machine leaves alone). Each search's trials are saved as it ends (``PLOT_DIR/trials.jsonl``;
``--report FILE`` prints the tables again from them), and a plot of best-so-far against time goes
to ``--plot-dir``. The last lines are, for each arm other than random, the ratio of the time it
needs to reach random search's final best to the time random search needed (median over every
dataset and seed; below 1 means it gets there sooner; inf when it never does within the budget).

    python bench/bench_search.py                                    # the real measurement (~55 min)
    python bench/bench_search.py --datasets mnist1d --budget 8 --seeds 1 --max-samples 1000 --epochs 2   # smoke test
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _side_venv import machine_line  # bench/ is on sys.path when a script here runs
from topnet.tune import DataSpec, default_space, prepare_splits, tune
from topnet.tune._optuna import import_optuna

# arm: (sampler, pruner, the space's first trials kept: the baseline and the portfolio)
ARMS = {"random": ("random", "none", False), "tpe": ("tpe", "none", False), "tpe+prune": ("tpe", "median", False),
        "topnet": ("tpe", "median", True)}
DEFAULT_ARMS = ("random", "tpe+prune", "topnet")
FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)
# per dataset: seconds per search, training pool, epochs per trial (a command-line value wins)
DEFAULTS = {"mnist1d": {"budget": 60.0, "seeds": 5, "max_samples": None, "epochs": 5},
            "fashion-mnist": {"budget": 240.0, "seeds": 3, "max_samples": 2000, "epochs": 2}}
FALLBACK = {"budget": 120.0, "seeds": 3, "max_samples": 5000, "epochs": 3}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mnist1d,fashion-mnist", help="comma-separated dataset names")
    parser.add_argument("--budget", type=float, default=None, help="seconds per search (default per dataset)")
    parser.add_argument("--seeds", type=int, default=None, help="searches per arm (default per dataset)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default per dataset)")
    parser.add_argument("--max-samples", type=int, default=None,
                        help="samples of each dataset's training pool (default per dataset; 0: all)")
    parser.add_argument("--pruner", default="median", help="the pruner of the tpe+prune arm (median, asha, hyperband)")
    parser.add_argument("--baseline", action="store_true", help="keep the default space's baseline first trial "
                        "in the arms other than topnet")
    parser.add_argument("--arms", default=",".join(DEFAULT_ARMS), help=f"comma-separated, from {', '.join(ARMS)} "
                        "(random, the anchor, always runs)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine may be shared)")
    parser.add_argument("--plot-dir", default="runs/bench_search", help="where the best-so-far plots go")
    parser.add_argument("--json", default=None, help="append the raw trials here (default PLOT_DIR/trials.jsonl)")
    parser.add_argument("--verbose", type=int, default=0, help="1: a line per trial")
    parser.add_argument("--report", default=None, help="print the tables and plots of saved trials (a JSON-lines "
                        "file this script wrote) instead of running searches")
    args = parser.parse_args()
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"--arms: unknown arm {unknown[0]!r}; choose from {', '.join(ARMS)}")
    args.arms = ["random"] + [a for a in dict.fromkeys(arms) if a != "random"]
    return args


def machine() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return machine_line("B3 search efficiency", f"{device}; optuna {import_optuna().__version__}, numpy {np.__version__}")


def settings_for(name: str, args: argparse.Namespace) -> dict:
    chosen = {**DEFAULTS.get(name, FALLBACK)}
    for key in chosen:
        if getattr(args, key) is not None:
            chosen[key] = getattr(args, key)
    chosen["max_samples"] = chosen["max_samples"] or None  # --max-samples 0: the whole pool
    return chosen


def search(splits, spaces: dict, arm: str, seed: int, settings: dict, args: argparse.Namespace) -> dict:
    """One search: its best-so-far curve ``[(seconds since its start, best)]`` and its trials.
    ``spaces``: ``{True: the default space, False: the same without its first trials}``."""
    sampler, pruner, first = ARMS[arm]
    pruner = args.pruner if pruner != "none" and arm != "topnet" else pruner
    space = spaces[first]
    with tempfile.TemporaryDirectory() as out:
        started = time.time()
        result = tune(space, splits, budget=settings["budget"], sampler=sampler, pruner=pruner, seed=seed, out=out,
                      epochs=settings["epochs"], device=args.device, keep_top_k=1, plots=False, verbose=args.verbose)
        trials = [{"state": t.state.name, "value": t.value, "config": t.user_attrs.get("config", {}),
                   "epochs_run": t.user_attrs.get("epochs_run"), "stopped": t.user_attrs.get("stopped"),
                   "seconds": t.duration.total_seconds() if t.duration else None,
                   "end": t.datetime_complete.timestamp() - started if t.datetime_complete else None}
                  for t in result.study.trials]
    curve, best = [], -math.inf
    for trial in sorted((t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None),
                        key=lambda t: t["end"]):
        if trial["value"] > best:
            best = trial["value"]
            curve.append((trial["end"], best))
    return {"arm": arm, "seed": seed, "curve": curve, "trials": trials}


def save(path: Path, record: dict) -> None:
    """Append one search's raw result as a JSON line (written as it finishes: a cut-short run keeps it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def best_at(curve: list, seconds: float) -> float:
    values = [value for t, value in curve if t <= seconds]
    return values[-1] if values else math.nan


def time_to(curve: list, target: float) -> float:
    return next((t for t, value in curve if value >= target), math.inf)


def epochs_by(trials: list[dict], seconds: float) -> int:
    """Epochs trained by the trials that ended by ``seconds``: a measure of work that machine load leaves alone."""
    return sum(t["epochs_run"] or 0 for t in trials if t["end"] is not None and t["end"] <= seconds)


def spread(values: list[float], digits: int = 4) -> str:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return "-"
    return f"{statistics.median(finite):.{digits}f} [{min(finite):.{digits}f}, {max(finite):.{digits}f}]"


def run_arms(splits, spaces: dict, settings: dict, args: argparse.Namespace) -> dict[str, list[dict]]:
    """Every arm for every seed, in a rotating order (seed 0: random, tpe+prune, topnet; seed 1:
    tpe+prune, topnet, random; ...)."""
    warm_up = {**settings, "budget": 3.0, "epochs": 1}
    search(splits, spaces, "random", 999, warm_up, args)  # first-call costs (allocator, kernels) charged to no arm
    names, runs = list(args.arms), {arm: [] for arm in args.arms}
    for seed in range(settings["seeds"]):
        turn = seed % len(names)
        for arm in names[turn:] + names[:turn]:
            runs[arm].append(search(splits, spaces, arm, seed, settings, args))
            save(Path(args.json or Path(args.plot_dir) / "trials.jsonl"), {"settings": settings, **runs[arm][-1]})
            print(f"  seed {seed} {arm:<10} done: {counts(runs[arm][-1]['trials'])}", flush=True)
    return runs


def counts(trials: list[dict]) -> str:
    states = collections.Counter(t["state"].lower() for t in trials)
    return ", ".join(f"{n} {state}" for state, n in sorted(states.items()))


def report(name: str, runs: dict[str, list[dict]], settings: dict, size: str) -> dict[str, list[float]]:
    """Print the dataset's tables; return each arm's per-seed ratios (its time / random's own)."""
    budget = settings["budget"]
    print(f"\n{name}: {size}, {settings['epochs']} epochs per trial, {budget:.0f}s per search, "
          f"{len(runs['random'])} seeds; best-so-far val_accuracy, median [min, max] over seeds")
    print(f"{'arm':<10}" + "".join(f"{f'{int(f * 100)}% budget':>26}" for f in FRACTIONS))
    for arm, results in runs.items():
        print(f"{arm:<10}" + "".join(f"{spread([best_at(r['curve'], f * budget) for r in results]):>26}"
                                     for f in FRACTIONS))
    print("\ntrials per search (median [min, max]) and mean seconds of a complete trial per family:")
    for arm, results in runs.items():
        per_state = {s: [sum(t["state"] == s for t in r["trials"]) for r in results]
                     for s in ("COMPLETE", "PRUNED", "FAIL")}
        family_seconds = collections.defaultdict(list)
        for r in results:
            for t in r["trials"]:
                if t["state"] == "COMPLETE" and t["seconds"] is not None:
                    family_seconds[t["config"].get("family")].append(t["seconds"])
        families = ", ".join(f"{f} {statistics.mean(s):.1f}s (n={len(s)})" for f, s in sorted(family_seconds.items()))
        print(f"{arm:<10} " + "; ".join(f"{s.lower()} {spread(v, 0)}" for s, v in per_state.items()) + f"; {families}")
    print("\ntime to reach random search's final best (same seed), and the epochs trained by then:")
    ratios, reach = {arm: [] for arm in runs if arm != "random"}, {arm: [] for arm in runs}
    for seed, anchor_run in enumerate(runs["random"]):
        if not anchor_run["curve"]:
            continue
        target = anchor_run["curve"][-1][1]
        times = {arm: time_to(runs[arm][seed]["curve"], target) for arm in runs}
        for arm in ratios:
            ratios[arm].append(times[arm] / times["random"] if times["random"] > 0 else math.inf)
        cells = ", ".join(f"{arm} {t:.1f}s ({epochs_by(runs[arm][seed]['trials'], t)} epochs)"
                          if math.isfinite(t) else f"{arm} never" for arm, t in times.items())
        print(f"  seed {seed}: target {target:.4f}: {cells}; "
              + ", ".join(f"{arm} / random {r[-1]:.2f}" for arm, r in ratios.items()))
        for arm, t in times.items():
            reach[arm].append(t)
    print("  median: " + ", ".join(f"{arm} {statistics.median(t):.1f}s" for arm, t in reach.items() if t))
    return ratios


def plot(name: str, runs: dict[str, list[dict]], budget: float, plot_dir: str) -> Path:
    """Best-so-far against time: the median over seeds as a line, the range as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0, budget, 200)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for arm, results in runs.items():
        values = np.array([[best_at(r["curve"], t) for t in grid] for r in results])  # (seeds, times)
        defined = ~np.isnan(values).any(axis=0)  # where every seed has a finished trial
        if not defined.any():
            continue
        line, = ax.step(grid[defined], np.median(values[:, defined], axis=0), where="post", label=arm)
        ax.fill_between(grid[defined], values[:, defined].min(axis=0), values[:, defined].max(axis=0),
                        step="post", alpha=0.15, color=line.get_color())
    ax.set(xlabel="seconds since the search started", ylabel="best-so-far val accuracy",
           title=f"{name}: median over {len(runs['random'])} seeds (band: min-max)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(loc="lower right")
    fig.tight_layout()
    path = Path(plot_dir) / f"search_{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def bench_dataset(name: str, args: argparse.Namespace) -> dict[str, list[float]]:
    settings = {"dataset": name, **settings_for(name, args)}
    splits, _ = prepare_splits(DataSpec(name, valid=0.2, blend=0.1, max_samples=settings["max_samples"]))
    shipped = default_space(splits)
    spaces = {True: shipped, False: dataclasses.replace(shipped, baseline=shipped.baseline if args.baseline else None,
                                                        portfolio=())}
    settings["size"] = f"{len(splits.train)} train / {len(splits.valid)} valid"
    print(f"\n{name}: {settings}", flush=True)
    runs = run_arms(splits, spaces, settings, args)
    ratios = report(name, runs, settings, settings["size"])
    print(f"plot: {plot(name, runs, settings['budget'], args.plot_dir)}")
    return ratios


def report_saved(path: str, plot_dir: str) -> dict[str, list[float]]:
    """The tables and plots of the searches saved in ``path`` (grouped by dataset, in seed order)."""
    grouped: dict[str, dict] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            entry = grouped.setdefault(record["settings"]["dataset"], {"settings": record["settings"], "runs": {}})
            entry["runs"].setdefault(record["arm"], []).append(record)
    ratios: dict[str, list[float]] = collections.defaultdict(list)
    for name, entry in grouped.items():
        runs = {arm: sorted(entry["runs"][arm], key=lambda r: r["seed"]) for arm in ARMS if arm in entry["runs"]}
        for arm, values in report(name, runs, entry["settings"], entry["settings"].get("size", "?")).items():
            ratios[arm] += values
        print(f"plot: {plot(name, runs, entry['settings']['budget'], plot_dir)}")
    return ratios


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the tables at the end, not a line per trial
    if args.report:
        ratios = report_saved(args.report, args.plot_dir)
    else:
        print(machine())
        started, ratios = time.time(), collections.defaultdict(list)
        for name in args.datasets.split(","):
            for arm, values in bench_dataset(name.strip(), args).items():
                ratios[arm] += values
        print(f"\n{time.time() - started:.0f}s in all; {machine().split('; ')[-1]}")
    for arm, values in ratios.items():
        median = statistics.median(values) if values else math.nan
        print(f"ratio (time {arm} needs to reach random search's final best / time random search needed), "
              f"median over {len(values)} dataset-seeds: {median:.2f}")


if __name__ == "__main__":
    main()
