"""Measure the search portfolio for signals: candidate configurations on MNIST-1D, ranked.

Each candidate is a configuration of `topnet.tune.defaults.signal_space` (1-D convnets, a
bidirectional GRU, an MLP), trained by `topnet.configs.train_config` (what a search
trial and a retrained member call) on ``topnet run``'s own MNIST-1D splits (`DataSpec("mnist1d")`
with `prepare_splits`: seed 0, 3,200 train and 400 valid signals of length 40), at full fidelity
(all epochs, no early stopping, the best valid epoch kept), once per seed. A candidate's score is
its median best valid accuracy over the seeds; the table gives the range and the seconds too.

With ``--write``, the ranked top candidates other than the space's baseline (which a study tries
first anyway) replace the ``signals`` list of ``src/topnet/tune/portfolio.json``, each with a
note of its figures, the machine and the date. The last line is the best candidate's median
valid accuracy over the baseline's.

    python bench/build_portfolio.py --write                                   # the measurement (~13 min)
    python bench/build_portfolio.py --epochs 2 --seeds 0 --candidates baseline mlp   # smoke test
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
from pathlib import Path

import torch

from _side_venv import machine_line  # bench/ is on sys.path when a script here runs
from topnet.configs.data_spec import DataSpec, TrialData, prepare_splits
from topnet.tune.defaults import signal_space
from topnet.configs.settings import FitSettings
from topnet.configs.training import train_config

PORTFOLIO = Path(__file__).resolve().parents[1] / "src" / "topnet" / "tune" / "portfolio.json"
_TRAINING = {"dropout": 0.0, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine", "weight_decay": 1e-6,
             "batch_size": 128}


def _conv(**changes) -> dict:
    return {"family": "conv1d_net", "depth": 3, "width": 32, "model.kernel_size": 5, "model.head": "flatten",
            "activation": "relu", "batch_norm": True, **_TRAINING, **changes}


CANDIDATES = {  # name: a configuration of signal_space(length=40); "baseline" is the space's own
    "baseline": _conv(),
    "conv-lr3e-3": _conv(lr=3e-3),
    "conv-k7-1cycle": _conv(**{"model.kernel_size": 7, "lr": 3e-3, "schedule": "one_cycle"}),
    "conv-avg-lr3e-3": _conv(**{"model.head": "avg", "lr": 3e-3}),
    "conv-w64": _conv(width=64),
    "conv-w64-k7-lr3e-3": _conv(**{"width": 64, "model.kernel_size": 7, "lr": 3e-3}),
    "conv-d4-k3-1cycle": _conv(**{"depth": 4, "model.kernel_size": 3, "lr": 3e-3, "schedule": "one_cycle"}),
    "conv-adamw-drop0.1": _conv(optimizer="adamw", lr=3e-3, weight_decay=1e-2, dropout=0.1),
    "gru-bi-w32": {"family": "rnn_net", "model.num_layers": 1, "width": 32, "model.cell": "gru",
                   "model.bidirectional": True, **_TRAINING, "lr": 3e-3},
    "mlp-d2-w64": {"family": "mlp", "depth": 2, "width": 64, "activation": "relu", "batch_norm": True, **_TRAINING},
}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: a shared 2-core VM)")
    parser.add_argument("--top", type=int, default=4, help="entries written to the portfolio")
    parser.add_argument("--write", action="store_true", help="write the ranked top entries to portfolio.json")
    return parser.parse_args()


def measure(name: str, data: TrialData, epochs: int, seeds: list[int]) -> dict:
    """Train candidate ``name`` once per seed; its median, range and seconds."""
    values, seconds = [], []
    for seed in seeds:
        began = time.perf_counter()
        outcome = train_config(CANDIDATES[name], data, FitSettings(epochs=epochs, patience=None, seed=seed), seed=seed)
        seconds.append(time.perf_counter() - began)
        values.append(outcome.value)
        print(f"  {name} seed {seed}: valid {outcome.value:.4f} (epoch {outcome.best_epoch + 1}), "
              f"{seconds[-1]:.0f}s", flush=True)
    return {"name": name, "median": statistics.median(values), "min": min(values), "max": max(values),
            "seconds": statistics.median(seconds), "values": values}


def note(row: dict, rows: list[dict], args: argparse.Namespace, machine: str) -> str:
    baseline = next((r for r in rows if r["name"] == "baseline"), None)
    against = f"; the baseline {baseline['median']:.4f}" if baseline else ""
    rank = [r["name"] for r in rows].index(row["name"]) + 1
    return (f"MNIST-1D (mnist1d package defaults), topnet run's splits ({args.sizes}); "
            f"train_config {args.epochs} epochs, no early stopping, best valid epoch kept: valid median "
            f"{row['median']:.4f} [{row['min']:.4f}-{row['max']:.4f}] over seeds {args.seeds}{against}; "
            f"rank {rank} of {len(rows)} candidates ('{row['name']}'); bench/build_portfolio.py; {machine}")


def write_portfolio(rows: list[dict], args: argparse.Namespace, machine: str) -> None:
    space = signal_space(length=40)
    entries = []
    for row in rows:
        config = CANDIDATES[row["name"]]
        if row["name"] == "baseline" or len(entries) == args.top:
            continue
        entries.append({"config": {k: config[k] for k in space.params if k in config},
                        "measured": note(row, rows, args, machine)})
    document = json.loads(PORTFOLIO.read_text())
    document["signals"] = entries
    PORTFOLIO.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {len(entries)} signals entries to {PORTFOLIO}")


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    print(machine_line("build_portfolio", f"{args.epochs} epochs, seeds {args.seeds}"), flush=True)
    splits, _ = prepare_splits(DataSpec("mnist1d"))
    data, started = TrialData(splits), time.time()
    args.sizes = f"seed 0: {len(splits.train):,} train, {len(splits.valid):,} valid"
    print(f"mnist1d: {args.sizes}, x {tuple(splits.train.x.shape[1:])}")
    rows = []
    for name in args.candidates:
        rows.append(measure(name, data, args.epochs, args.seeds))
    rows.sort(key=lambda r: -r["median"])
    print("\n| candidate | valid, median [min–max] | s per run |\n| --- | --- | --- |")
    for row in rows:
        print(f"| {row['name']} | {row['median']:.4f} [{row['min']:.4f}–{row['max']:.4f}] | {row['seconds']:.0f} |")
    cpu = machine_line("x").split("(", 1)[1].split(",", 1)[0]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{cpu}, torch {torch.__version__}, {args.threads} thread(s), {now}"
    if args.write:
        write_portfolio(rows, args, machine)
    print(f"\n{time.time() - started:.0f}s in all; {machine}")
    baseline = next((r["median"] for r in rows if r["name"] == "baseline"), float("nan"))
    print(f"best candidate ({rows[0]['name']}) median valid / baseline's: {rows[0]['median'] / baseline:.4f}")


if __name__ == "__main__":
    main()
