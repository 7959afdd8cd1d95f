"""B4: ensembles and uncertainty on Fashion-MNIST — best single member vs every combiner.

A pool of ``--subset`` training images is split into train / valid / blend (the official 10k
test set, or ``--test-subset`` of it, is the test split). Diverse members are trained on train
(networks with early stopping on valid; LightGBM on flattened pixels, early-stopped on valid;
optionally a logistic regression); every combiner is fitted on blend only (uniform,
Nelder–Mead weights, Caruana selection, stacking, and "auto": the one with the lowest
cross-fitted blend log-loss, then temperature-scaled on blend). Test is scored once per row of
the table: accuracy, NLL, ECE (15 bins), Brier. MC dropout (1/10/30/100 samples, with its cost)
and temperature scaling of the dropout member are measured when ``topnet.uncertainty`` provides
``mc_predict``. Each figure is the median over ``--seeds`` runs, with the range.

The last line's ratio is honest: "best single" is the member with the lowest *blend* NLL and
"best ensemble" is the combiner picked by cross-fitted blend NLL (with its temperature); both
are then scored on test. Below 1 means the ensemble beats the best single model.

    python bench/bench_ensembles.py                     # the real measurement (hours on 2 CPU cores)
    python bench/bench_ensembles.py --subset 1500 --test-subset 500 --epochs 1 --members mlp,lightgbm \\
        --seeds 1 --mc-samples 1,10 --lightgbm-rounds 20   # smoke test
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import numpy as np
import torch

import topnet
from topnet.callbacks import EarlyStopping
from topnet.data import Splits, load, split, standardize
from topnet.ensemble import COMBINERS, Ensemble, LightGBMMember, LinearMember, NetworkMember
from topnet.ensemble.temperature import TemperatureScaling, log_probabilities
from topnet.nn import create_model
from topnet.uncertainty.calibration import calibration_metrics

NETWORKS = {  # builder name, extra builder arguments: three different inductive biases
    "convnet": ("convnet", {"filters": [32, 64], "dropout": 0.3}),
    "separable_convnet": ("separable_convnet", {"filters": [32, 64, 128], "dropout": 0.3}),
    "mlp": ("mlp", {"hidden": [300, 100], "dropout": 0.2}),
}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=60_000, help="training-pool images (train + valid + blend)")
    parser.add_argument("--test-subset", type=int, default=10_000, help="test images (of the official 10k)")
    parser.add_argument("--epochs", type=int, default=15, help="most epochs per network (early stopping on valid)")
    parser.add_argument("--members", default="convnet,separable_convnet,mlp,lightgbm",
                        help=f"comma list of {sorted(NETWORKS)} + lightgbm, linear")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lightgbm-rounds", type=int, default=400)
    parser.add_argument("--mc-samples", default="1,10,30,100", help="MC dropout sample counts ('' to skip)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    return parser.parse_args()


def make_splits(args: argparse.Namespace, seed: int) -> Splits:
    data = load("fashion-mnist")
    rng = np.random.default_rng(seed)
    pool = data.train.take(np.sort(rng.permutation(len(data.train))[:args.subset]))
    test = data.test.take(np.sort(rng.permutation(len(data.test))[:args.test_subset]))
    splits, _ = standardize(split(Splits(train=pool, test=test), valid=0.1, blend=0.1, seed=seed))
    return splits


def make_members(args: argparse.Namespace, seed: int) -> list:
    members = []
    for name in args.members.split(","):
        if name in NETWORKS:
            builder, extra = NETWORKS[name]
            torch.manual_seed(seed)  # a script may seed globally: the initial weights
            model = create_model(builder, input_shape=(1, 28, 28), num_classes=10, **extra)
            fit_kwargs = {"epochs": args.epochs, "batch_size": args.batch_size, "seed": seed, "device": args.device,
                          "callbacks": [EarlyStopping(patience=2, restore_best_weights=True)]}
            members.append(NetworkMember(model, name=name, fit_kwargs=fit_kwargs, device=args.device))
        elif name == "lightgbm":
            members.append(LightGBMMember(num_boost_round=args.lightgbm_rounds, seed=seed))
        elif name == "linear":
            members.append(LinearMember(C=0.1))
        else:
            raise SystemExit(f"--members: unknown member {name!r}; expected {sorted(NETWORKS)}, lightgbm or linear")
    return members


def run_once(args: argparse.Namespace, seed: int) -> tuple[dict[str, dict[str, float]], float]:
    """Every row's test metrics for one seed, and this seed's honest NLL ratio."""
    splits = make_splits(args, seed)
    members, rows = make_members(args, seed), {}
    y_blend, y_test = np.asarray(splits.blend.y), np.asarray(splits.test.y)
    for member in members:
        start = time.perf_counter()
        member.fit(splits.train, splits.valid)
        seconds = time.perf_counter() - start
        rows[member.name] = {**calibration_metrics(member.predict_split("test", splits.test), y_test), "seconds": seconds}
    outputs = {m.name: m.predict_split("test", splits.test) for m in members}
    for name in COMBINERS:
        ensemble = Ensemble(members, combiner=name, seed=seed).fit(splits)
        rows[f"ensemble:{name}"] = calibration_metrics(ensemble.combine(outputs), y_test)
    chosen = Ensemble(members, combiner="auto", temperature=True, seed=seed).fit(splits)
    rows["ensemble:auto+T"] = best_ensemble = calibration_metrics(chosen.combine(outputs), y_test)
    print(f"seed {seed}: auto picked {chosen.combiner_name_} (cross-fitted blend NLL "
          + ", ".join(f"{k} {v:.4f}" for k, v in chosen.scores_.items()) + f"), temperature {chosen.temperature_:.3f}")
    blend_nll = {m.name: calibration_metrics(m.predict_split("blend", splits.blend), y_blend)["nll"] for m in members}
    best_single = min(blend_nll, key=blend_nll.get)
    print(f"seed {seed}: best single on blend: {best_single}")
    rows.update(uncertainty_rows(args, members, splits, seed))
    return rows, best_ensemble["nll"] / rows[best_single]["nll"]


def uncertainty_rows(args: argparse.Namespace, members: list, splits: Splits, seed: int) -> dict[str, dict[str, float]]:
    """MC dropout at several sample counts, and temperature scaling, for each network with dropout."""
    try:
        from topnet.uncertainty import mc_predict
    except ImportError:
        return {}
    rows, y_test, y_blend = {}, np.asarray(splits.test.y), np.asarray(splits.blend.y)
    for member in (m for m in members if isinstance(m, NetworkMember)):
        scaler = TemperatureScaling().fit(log_probabilities(member.predict_split("blend", splits.blend)), y_blend)
        test_logits = log_probabilities(member.predict_split("test", splits.test))
        rows[f"{member.name}+T"] = calibration_metrics(scaler.transform(test_logits), y_test)
        for samples in [int(s) for s in args.mc_samples.split(",") if s]:
            start = time.perf_counter()
            try:
                result = mc_predict(member.model, splits.test.x, samples, seed=seed, device=args.device)
            except ValueError:  # no dropout layers
                break
            rows[f"{member.name}:mc{samples}"] = {**calibration_metrics(result.mean.double().numpy(), y_test),
                                                   "seconds": time.perf_counter() - start}
    return rows


def main() -> None:
    args = parse()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.node()} {platform.machine()} {platform.processor() or ''} | device: {args.device}"
          f" | torch {torch.__version__} ({torch.get_num_threads()} threads) | topnet {topnet.__version__}")
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"setting: subset={args.subset} test_subset={args.test_subset} epochs={args.epochs} members={args.members} "
          f"seeds={args.seeds} lightgbm_rounds={args.lightgbm_rounds} mc_samples={args.mc_samples}")
    runs, ratios = [], []
    for seed in range(args.seeds):
        rows, ratio = run_once(args, seed)
        runs.append(rows)
        ratios.append(ratio)
    columns = ("accuracy", "nll", "ece", "brier", "seconds")
    print(f"{'row (median [min, max] over seeds)':<34}" + "".join(f"{c:>26}" for c in columns))
    for name in runs[0]:
        cells = []
        for column in columns:
            values = [r[name][column] for r in runs if name in r and column in r[name]]
            cells.append(f"{statistics.median(values):.4f} [{min(values):.4f}, {max(values):.4f}]" if values else "")
        print(f"{name:<34}" + "".join(f"{c:>26}" for c in cells))
    print(f"ratio best-ensemble/best-single test NLL = {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f} over {len(ratios)} seeds)")


if __name__ == "__main__":
    main()
