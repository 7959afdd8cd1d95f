"""B6: the main job — ``topnet run`` within a time budget, on Fashion-MNIST and against AutoGluon on tables.

Fashion-MNIST: ``topnet run`` (the public ``topnet.pipeline.run``) at each budget of
``--budgets`` (5, 15 and 60 minutes), each into its own run directory; recorded from each run's
``metrics.json``: test accuracy and NLL of the ensemble on the dataset's own 10k test images
(read once, at the end of the run), the best single model's accuracy, and the seconds used.

Tables: two datasets shipped with scikit-learn (no download: ``breast_cancer``, a binary
classification of 569 rows, and ``diabetes``, a regression of 442 rows, by default; ``wine`` and
``digits`` too), split once into train and test (75/25, stratified for classes, ``--seed``) and
written to CSV. ``topnet run`` gets the train CSV (and makes its own valid / blend / test
splits inside it) and predicts the held-out rows with ``topnet.pipeline.predict_run``;
AutoGluon's ``TabularPredictor`` (``--presets``, default ``best_quality``) gets the same train
CSV and ``time_limit`` = the same budget, and predicts the same held-out rows. AutoGluon lives
in its own venv, ``bench/.venv-autogluon``, made on first use (``torch==2.13.0``, the CPU
wheel, first, then ``autogluon.tabular[all]``); when that install fails the output says why and
only topnet's figures are printed. Both run with ``--threads`` CPU threads.

The figures are accuracies, not timings, so a shared machine changes them only through what
each system manages to train within its budget; one seed per setting (``--seed``): a 60-minute
run is costly, and the spread over seeds is not measured here.

The last line is the ratio of test error (1 − accuracy; RMSE for regression) topnet /
AutoGluon, the median over the tabular datasets (below 1: topnet is better); without AutoGluon,
topnet's test accuracies, saying so.

    python bench/bench_main_job.py                                  # the measurement (about 1 h 50 min on 2 quiet cores)
    python bench/bench_main_job.py --budgets 60s --tabular-budget 60s --out /tmp/b6   # smoke test

B11, ``--tables`` (issue 21): seven public tables (`bench_tables.TABLES`: binary, several classes,
imbalanced, categoricals and missing values, regression), each split 75/25 per seed (stratified
for classes); on the same split, ``topnet run`` (``--set`` settings added), AutoGluon
(``--presets``) and LightGBM with its defaults (100 trees, pandas categoricals), each budget of
``--table-budgets`` and each seed of ``--seeds``. With ``--jobs 2`` topnet and AutoGluon run side
by side, each with ``--threads`` threads (1 on the project's 2-core VM: torch's threads and topnet's
``threads`` setting for its classic members; AutoGluon's ``num_cpus``), and LightGBM after them.
Every result is appended to ``OUT/<time>/tables.jsonl`` as it comes; the summary gives, per table
and budget, each system's median test error [min-max] over the seeds, the ratio topnet /
AutoGluon of the median errors and its median over the tables (issue 21 asks <= 1.0), and
whether topnet's median is within LightGBM-defaults' median plus its spread over the seeds.

    python bench/bench_main_job.py --tables --table-budgets 1m,5m --seeds 0,1,2 --jobs 2 --threads 1
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from _side_venv import ensure_venv, machine_line, run_script
from bench_tables import TABLES as TABLES_B11
from bench_tables import ensure_packages, lightgbm_defaults, load_table, sklearn_table, split_table
from topnet.cli.arguments import parse_assignments
from topnet.pipeline import RunConfig, predict_run, resolve_config, run
from topnet.pipeline.predict import class_columns

TABULAR = {"breast_cancer": "classification", "wine": "classification", "digits": "classification",
           "diabetes": "regression"}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="5m,15m,60m", help="Fashion-MNIST budgets, comma-separated ('' skips them)")
    parser.add_argument("--tabular", default="breast_cancer,diabetes",
                        help=f"scikit-learn datasets, from {', '.join(TABULAR)} ('' skips them)")
    parser.add_argument("--tabular-budget", default="5m", help="the budget of each system on each table")
    parser.add_argument("--presets", default="best_quality", help="AutoGluon's presets")
    parser.add_argument("--no-autogluon", action="store_true", help="topnet's figures only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads of each system")
    parser.add_argument("--data-path", default=None, help="folder of the Fashion-MNIST files (default: the usual places)")
    parser.add_argument("--out", default="runs/bench_main_job", help="run directories go to OUT/<UTC time>/")
    parser.add_argument("--verbose", type=int, default=1, help="topnet run's phase lines (0: none)")
    parser.add_argument("--tables", action="store_true", help="B11: the seven tables against AutoGluon and LightGBM "
                        "(no Fashion-MNIST)")
    parser.add_argument("--table-names", default=",".join(TABLES_B11), help="B11's tables, comma-separated")
    parser.add_argument("--table-budgets", default="1m,5m", help="B11's budgets, comma-separated")
    parser.add_argument("--seeds", default="0,1,2", help="B11's seeds (each its own split), comma-separated")
    parser.add_argument("--jobs", type=int, default=1, choices=(1, 2),
                        help="B11: 2 runs topnet and AutoGluon side by side (each with --threads threads)")
    parser.add_argument("--summarise", nargs="+", default=None, metavar="TABLES.JSONL",
                        help="B11: print the summary of earlier runs' tables.jsonl files together (e.g. seeds run "
                             "in separate invocations on the same code) and exit")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a topnet run setting for B11's runs, e.g. --set bagging=5 (repeatable)")
    args = parser.parse_args()
    args.settings = parse_assignments(args.set)
    args.table_names = [t.strip() for t in args.table_names.split(",") if t.strip()]
    args.table_budgets = [b.strip() for b in args.table_budgets.split(",") if b.strip()]
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if sorted(set(args.table_names) - set(TABLES_B11)):
        parser.error(f"--table-names: got {sorted(set(args.table_names) - set(TABLES_B11))}; "
                     f"expected names from {list(TABLES_B11)}")
    args.budgets = [b.strip() for b in args.budgets.split(",") if b.strip()]
    args.tabular = [t.strip() for t in args.tabular.split(",") if t.strip()]
    unknown = sorted(set(args.tabular) - set(TABULAR))
    if unknown:
        parser.error(f"--tabular: got {unknown}; expected names from {list(TABULAR)}")
    return args


def run_fashion(budget: str, out: Path, args: argparse.Namespace) -> dict:
    """One ``topnet run`` on Fashion-MNIST; its test figures from ``metrics.json``."""
    config = RunConfig(data="fashion-mnist", data_path=args.data_path, budget=budget, out=str(out / f"fashion-mnist-{budget}"),
                       seed=args.seed, device="cpu", verbose=args.verbose)
    started = time.perf_counter()
    metrics = run(config)
    return {"budget": budget, "accuracy": metrics["test"]["accuracy"], "nll": metrics["test"].get("nll"),
            "best_single": metrics["best_single"]["name"], "best_single_accuracy": metrics["best_single"]["accuracy"],
            "elapsed_s": metrics["elapsed_s"], "wall_s": time.perf_counter() - started, "out": config.out}


def write_frames(name: str, task: str, train, test, folder: Path) -> dict:
    """``train`` and ``test`` as train.csv, test.csv (with the target) and test_x.csv (without)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / f"{key}.csv" for key in ("train", "test", "test_x")}
    train.to_csv(paths["train"], index=False)
    test.to_csv(paths["test"], index=False)
    test.drop(columns="target").to_csv(paths["test_x"], index=False)
    return {"name": name, "task": task, "paths": paths, "y_test": test["target"].to_numpy(), "rows": (len(train), len(test))}


def write_tabular(name: str, folder: Path, seed: int) -> dict:
    """The scikit-learn dataset as train.csv, test.csv (with the target) and test_x.csv (without); its test targets."""
    task = TABULAR[name]
    train, test = split_table(sklearn_table(name, task), task, seed)
    return write_frames(name, task, train, test, folder)


def scores(task: str, y_true: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray | None = None) -> dict:
    """accuracy and error (and log loss when ``probabilities``, one column per ``y_true`` value), or RMSE."""
    if task == "regression":
        rmse = float(np.sqrt(np.mean((predicted.astype(float) - y_true.astype(float)) ** 2)))
        return {"rmse": rmse, "error": rmse}
    accuracy = float(np.mean(predicted.astype(str) == y_true.astype(str)))
    result = {"accuracy": accuracy, "error": 1.0 - accuracy}
    if probabilities is not None and len(probabilities):
        result["log_loss"] = float(-np.mean(np.log(np.clip(probabilities, 1e-15, 1.0))))
    return result


def run_topnet_tabular(table: dict, budget: str, out: Path, args: argparse.Namespace) -> dict:
    """``topnet run`` on train.csv, then ``predict_run`` on the held-out rows."""
    config = resolve_config(overrides={
        "data": str(table["paths"]["train"]), "target": "target", "budget": budget, "seed": table.get("seed", args.seed),
        "device": "cpu", "out": str(out / f"{table['name']}-{budget}-topnet"), "verbose": args.verbose,
        "threads": args.threads, **getattr(args, "settings", {})})
    started = time.perf_counter()
    metrics = run(config)
    predictions = predict_run(config.out, str(table["paths"]["test_x"]), device="cpu")
    wall = time.perf_counter() - started
    columns, truth = predictions.columns, table["y_test"]
    if table["task"] == "regression":
        result = scores("regression", truth, columns["prediction"])
    else:
        names = json.loads((Path(config.out) / "dataset.json").read_text(encoding="utf-8"))["class_names"]
        headers = dict(zip(names, class_columns(names)))
        true_class = np.array([columns[headers[str(label)]][i] for i, label in enumerate(truth)])
        result = scores("classification", truth, columns["class_name"], true_class)
    return {**result, "elapsed_s": metrics["elapsed_s"], "wall_s": wall, "best_single": metrics["best_single"]["name"]}


AUTOGLUON_SCRIPT = r'''
"""B6's AutoGluon side: TabularPredictor on train.csv, scored on test.csv; prints a JSON record last."""
import inspect, json, sys, time
import numpy as np
import pandas as pd
import autogluon.tabular
from autogluon.tabular import TabularPredictor

train_csv, test_csv, task, seconds, presets, threads, path = sys.argv[1:8]
train, test = pd.read_csv(train_csv), pd.read_csv(test_csv)
problem = "regression" if task == "regression" else ("binary" if train["target"].nunique() == 2 else "multiclass")
metric = "root_mean_squared_error" if task == "regression" else "accuracy"
extra = {"num_cpus": int(threads)} if "num_cpus" in inspect.signature(TabularPredictor.fit).parameters else {}
started = time.perf_counter()
predictor = TabularPredictor(label="target", problem_type=problem, eval_metric=metric, path=path, verbosity=0)
predictor.fit(train, time_limit=float(seconds), presets=presets, **extra)
fitted = time.perf_counter() - started
x_test, y_test = test.drop(columns="target"), test["target"].to_numpy()
result = {"fit_s": fitted, "best_model": predictor.model_best, "version": autogluon.tabular.__version__}
if task == "regression":
    result["predicted"] = predictor.predict(x_test).to_numpy().astype(float).tolist()
else:
    proba = predictor.predict_proba(x_test)
    result["predicted"] = predictor.predict(x_test).astype(str).tolist()
    result["true_class_probability"] = [float(proba.loc[i, c]) for i, c in zip(proba.index, test["target"])]
result["wall_s"] = time.perf_counter() - started
print(json.dumps(result))
'''


def autogluon_runner():
    """A function running AutoGluon on a table, or None and the reason it is not installed."""
    python, said = ensure_venv("autogluon", [["torch==2.13.0"], ["autogluon.tabular[all]"]],
                               "import autogluon.tabular as t; print(f'autogluon.tabular {t.__version__}')")
    if python is None:
        return None, said

    def fit(table: dict, budget: str, out: Path, args: argparse.Namespace) -> dict:
        seconds = RunConfig(budget=budget).budget_s
        record = run_script(python, AUTOGLUON_SCRIPT,
                            [str(table["paths"]["train"]), str(table["paths"]["test"]), table["task"], str(seconds),
                             args.presets, str(args.threads), str(out / f"{table['name']}-{budget}-autogluon")],
                            timeout=3 * seconds + 600, env={"OMP_NUM_THREADS": str(args.threads)})
        probabilities = np.array(record["true_class_probability"]) if "true_class_probability" in record else None
        result = scores(table["task"], table["y_test"], np.array(record["predicted"]), probabilities)
        return {**result, "elapsed_s": record["fit_s"], "wall_s": record["wall_s"], "best_single": record["best_model"]}

    return fit, said


def print_tables(fashion: list[dict], tabular: list[dict]) -> None:
    if fashion:
        print(f"\n{'Fashion-MNIST budget':<22} {'test accuracy':>13} {'test NLL':>9} {'best single (accuracy)':<28} seconds used")
        for row in fashion:
            single = f"{row['best_single']} ({row['best_single_accuracy']:.4f})"
            print(f"{row['budget']:<22} {row['accuracy']:>13.4f} {row['nll']:>9.4f} {single:<28} {row['elapsed_s']:.0f}")
    if tabular:
        print(f"\n{'table (budget)':<24} {'system':<10} {'accuracy/RMSE':>13} {'log loss':>9} {'seconds':>8}  best model")
        for row in tabular:
            figure = row.get("accuracy", row.get("rmse"))
            loss = f"{row['log_loss']:.4f}" if "log_loss" in row else "-"
            print(f"{row['table']:<24} {row['system']:<10} {figure:>13.4f} {loss:>9} {row['wall_s']:>8.0f}  {row['best_single']}")


def run_lightgbm_defaults(table: dict, train, test, seed: int, threads: int) -> dict:
    started = time.perf_counter()
    record = lightgbm_defaults(train, test, table["task"], seed, threads)
    result = scores(table["task"], table["y_test"], np.asarray(record["predicted"]), record.get("true_class_probability"))
    wall = time.perf_counter() - started
    return {**result, "elapsed_s": wall, "wall_s": wall, "best_single": "LGBM defaults"}


def spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def summarise_tables(rows: list[dict]) -> None:
    """Per table and budget: each system's median [min-max] test error; the ratios."""
    from collections import defaultdict

    errors: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        errors[(row["table"], row["budget"])][row["system"]].append(row["error"])
    print(f"\n{'table':<14} {'budget':<6} {'system':<10} {'test error median [min-max]':<30} seeds")
    ratios: dict[str, list[float]] = defaultdict(list)
    for (table, budget_name), systems in errors.items():
        for system, values in sorted(systems.items()):
            mid, low, high = spread(values)
            print(f"{table:<14} {budget_name:<6} {system:<10} {mid:.4f} [{low:.4f}-{high:.4f}]{'':<8} {len(values)}")
        if "topnet" in systems and "autogluon" in systems:
            ag = statistics.median(systems["autogluon"])
            ratio = statistics.median(systems["topnet"]) / ag if ag else (1.0 if not statistics.median(systems["topnet"]) else math.inf)
            ratios[budget_name].append(ratio)
            print(f"{'':<14} {budget_name:<6} ratio topnet/AutoGluon {ratio:.3f}")
        if "topnet" in systems and "lightgbm" in systems:
            mid, low, high = spread(systems["lightgbm"])
            gap = statistics.median(systems["topnet"]) - mid
            print(f"{'':<14} {budget_name:<6} topnet - LightGBM-defaults {gap:+.4f} (LightGBM's spread {high - low:.4f}: "
                  f"{'within' if gap <= high - low else 'WORSE by more than the spread'})")
    for budget_name, values in ratios.items():
        print(f"ratio of median test errors topnet/AutoGluon at {budget_name}, median over {len(values)} tables: "
              f"{statistics.median(values):.3f} (issue 21 asks <= 1.0)")


def main_tables(args: argparse.Namespace) -> None:
    """B11: every table x budget x seed, topnet / AutoGluon / LightGBM defaults on the same split."""
    from concurrent.futures import ThreadPoolExecutor

    ensure_packages(args.table_names)
    out = Path(args.out) / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    autogluon, note = (None, "AutoGluon: not run (--no-autogluon)") if args.no_autogluon else autogluon_runner()
    note = note if autogluon is not None or args.no_autogluon else f"AutoGluon: not installed ({note})"
    print(machine_line("B11 tables", f"{note}; topnet settings {args.settings}; jobs {args.jobs}"))
    print(f"# run directories: {out}", flush=True)
    rows, log = [], out / "tables.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    for budget_name in args.table_budgets:
        for seed in args.seeds:
            for name in args.table_names:
                task = TABLES_B11[name][0]
                train, test = split_table(load_table(name), task, seed)
                table = {**write_frames(name, task, train, test, out / "data" / f"{name}-s{seed}"), "seed": seed}
                where = out / f"s{seed}"
                results = {}
                with ThreadPoolExecutor(max_workers=1) as pool:
                    ag_future = None
                    if autogluon is not None and args.jobs == 2:
                        ag_future = pool.submit(autogluon, table, budget_name, where, args)
                    for system, fit in [("topnet", run_topnet_tabular)] + (
                            [("autogluon", None)] if autogluon is not None else []):
                        try:
                            if system == "autogluon":
                                results[system] = ag_future.result() if ag_future else autogluon(table, budget_name, where, args)
                            else:
                                results[system] = fit(table, budget_name, where, args)
                        except RuntimeError as error:
                            print(f"{name} s{seed} {system}: failed ({error})", flush=True)
                results["lightgbm"] = run_lightgbm_defaults(table, train, test, seed, args.threads)
                for system, result in results.items():
                    row = {"table": name, "budget": budget_name, "seed": seed, "system": system, "rows": table["rows"],
                           **{k: v for k, v in result.items() if not isinstance(v, np.ndarray)}}
                    rows.append(row)
                    with open(log, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(row, default=str) + "\n")
                shown = ", ".join(f"{s} {r['error']:.4f} ({r['wall_s']:.0f}s)" for s, r in results.items())
                print(f"{name} {budget_name} seed {seed}: test error {shown}", flush=True)
    summarise_tables(rows)


def main() -> None:
    args = parse()
    if args.summarise:
        rows = [json.loads(line) for path in args.summarise for line in Path(path).read_text().splitlines() if line.strip()]
        summarise_tables(rows)
        return
    torch.set_num_threads(args.threads)
    if args.tables:
        main_tables(args)
        return
    out = Path(args.out) / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if args.no_autogluon or not args.tabular:
        autogluon, note = None, "AutoGluon: not run (--no-autogluon or no --tabular)"
    else:
        autogluon, note = autogluon_runner()
        note = note if autogluon is not None else f"AutoGluon: not installed ({note})"
    print(machine_line("B6 main job", note))
    print(f"# run directories: {out}", flush=True)
    fashion = []
    for budget in args.budgets:
        fashion.append(run_fashion(budget, out, args))
        print(f"fashion-mnist {budget}: test accuracy {fashion[-1]['accuracy']:.4f}, NLL {fashion[-1]['nll']:.4f}, "
              f"{fashion[-1]['elapsed_s']:.0f}s used", flush=True)
    tabular, ratios = [], []
    for index, name in enumerate(args.tabular):
        table = write_tabular(name, out / "data" / name, args.seed)
        systems = [("topnet", run_topnet_tabular)] + ([("autogluon", autogluon)] if autogluon else [])
        results = {}
        for system, fit in systems[index % len(systems):] + systems[:index % len(systems)]:  # alternate who goes first
            try:
                results[system] = fit(table, args.tabular_budget, out, args)
            except RuntimeError as error:  # the anchor's script failed: say so, go on
                print(f"{name} {system}: failed ({error})", flush=True)
                continue
            tabular.append({"table": f"{name} ({args.tabular_budget})", "system": system, **results[system]})
            print(f"{name} {system}: test error {results[system]['error']:.4f}", flush=True)
        if "autogluon" in results and "topnet" in results:
            ratios.append(results["topnet"]["error"] / results["autogluon"]["error"] if results["autogluon"]["error"]
                          else math.inf)
    (out / "bench_main_job.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "bench_main_job.json").write_text(json.dumps({"args": vars(args), "fashion_mnist": fashion,
                                                         "tabular": tabular}, indent=1, default=str) + "\n")
    print_tables(fashion, tabular)
    if ratios:
        print(f"ratio test error topnet/AutoGluon (median over {len(ratios)} tables at {args.tabular_budget}; "
              f"below 1: topnet better): {statistics.median(ratios):.2f}")
    else:
        shown = [f"fashion-mnist {r['budget']} {r['accuracy']:.4f}" for r in fashion]
        shown += [f"{r['table']} {'accuracy' if 'accuracy' in r else 'RMSE'} {r.get('accuracy', r.get('rmse')):.4f}"
                  for r in tabular if r["system"] == "topnet"]
        print(f"topnet test figures: {', '.join(shown) or 'none'} (no ratio: {note})")


if __name__ == "__main__":
    main()
