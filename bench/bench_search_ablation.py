"""B8: does the search earn its time? ``topnet run`` as shipped against the same run with the search off.

For each dataset, budget and seed, runs with the same settings side by side (``--arms``):
``on``, as shipped (``search = "auto"``: the search, or on images on a CPU under 30 minutes the
portfolio retrained without trials), and ``off``, ``search = false`` (no trials: the search's
time goes to retraining the baseline configuration, as many members as fit); ``trials`` forces
the search (``search = true``), which is what ``on`` meant until the zero-shot rule. Recorded from each run's ``metrics.json``: the
ensemble's test accuracy (RMSE for regression), the best single model's, the seconds used
against the budget, and what the search bought (``metrics["search"]``: the baseline trial and the
best trial on valid, and how many members came from each). The test split is each dataset's
own (MNIST-1D's 1,000 test signals, Fashion-MNIST's 10,000 images) or, for tables, the run's
own test split.

Datasets: ``mnist1d`` (the ``mnist1d`` package's default data), ``fashion-mnist`` (Debian's
``dataset-fashion-mnist``), scikit-learn's bundled tables ``breast_cancer`` (binary) and
``wine`` (3 classes), written to CSV with a ``target`` column and tested on the run's own test
split, and B11's tables (``default``, ``oj``, ``carseats``, ``penguins``, ``digits``,
``diabetes``; `bench_tables`): the run reads train.csv, and its ensemble is scored on B11's
held-out quarter of the seed (``predict_run``), the same rows for both arms. A table's metric is
its test error (1 − accuracy, or RMSE): lower is better.

The last lines are, per arm, the median over datasets and budgets of (its test accuracy − the
``off`` arm's), in points; above 0: that arm helps. ``--summarise`` pools the rows of several
``--json`` files (one bench's ``on`` runs with another's ``off`` runs, say).

Do the trials rank configurations as retraining does? For each run with search, the
configurations it retrained are ordered by their trial's valid score and by the mean valid
score of the members retrained from them (``models/*/config.json``: ``trial_valid``,
``retrained_valid``); every pair of configurations is concordant (same order), discordant, or
tied. ``--ranks RUN_DIR...`` prints that check for run directories of an earlier bench.

    python bench/bench_search_ablation.py --data mnist1d --budgets 5m --seeds 0 1 2
    python bench/bench_search_ablation.py --data breast_cancer,wine --budgets 1m --seeds 0 1 2
    python bench/bench_search_ablation.py --data default,oj --budgets 1m --seeds 0 1 2 --threads 1
    python bench/bench_search_ablation.py --data fashion-mnist --budgets 15m --seeds 0 1 2 --arms on,trials,off
    python bench/bench_search_ablation.py --data mnist1d --budgets 40s --seeds 0 --out /tmp/b8   # smoke test
    python bench/bench_search_ablation.py --ranks runs/bench_search_ablation/*/*-search
"""
from __future__ import annotations

import argparse
import collections
import json
import statistics
import time
from pathlib import Path

from _side_venv import machine_line
from bench_tables import TABLES as TABLES_B11
from topnet.pipeline import RunConfig, run

TABLES = ("breast_cancer", "wine")
# arm -> (the run's search setting, its run directory's suffix)
ARMS = {"on": ("auto", "search"), "off": (False, "nosearch"), "trials": (True, "trials")}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist1d", help="comma-separated: mnist1d, fashion-mnist, "
                        f"{', '.join(TABLES)}, or B11's {', '.join(t for t in TABLES_B11 if t not in TABLES)}")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of each run, torch's and the classic members' (default: topnet's)")
    parser.add_argument("--budgets", nargs="+", default=["5m"], help="budgets of each run")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default="runs/bench_search_ablation", help="run directories go to OUT/<UTC time>/")
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--verbose", type=int, default=0, help="topnet run's phase lines (0: none)")
    parser.add_argument("--arms", default="on,off",
                        help="comma-separated arms to run: on (as shipped), off (--set search=false), "
                             "trials (--set search=true)")
    parser.add_argument("--summarise", nargs="+", default=None, metavar="JSON",
                        help="only print the tables of --json files of earlier benches (rows pooled, so one "
                             "file's 'on' runs and another's 'off' runs make pairs)")
    parser.add_argument("--ranks", nargs="+", default=None, metavar="RUN_DIR",
                        help="only print the trial / retrained rank check of these run directories")
    args = parser.parse_args()
    args.data = [d.strip() for d in args.data.split(",") if d.strip()]
    bad = [arm for arm in args.arms.split(",") if arm not in ARMS]
    if bad:
        parser.error(f"--arms {args.arms!r}: {bad[0]!r} is not an arm; use on, off, trials (comma-separated)")
    return args


def table_csv(name: str, folder: Path) -> str:
    """A scikit-learn bundled table as CSV with a ``target`` column (no download)."""
    import sklearn.datasets

    frame = getattr(sklearn.datasets, f"load_{name}")(as_frame=True).frame
    path = folder / f"{name}.csv"
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return str(path)


def b11_run(name: str, budget: str, seed: int, arm: str, out: Path, args: argparse.Namespace) -> dict:
    """A B11 table: ``topnet run`` on the seed's train.csv, its ensemble scored on the held-out quarter."""
    from bench_main_job import run_topnet_tabular, write_frames
    from bench_tables import ensure_packages, load_table, split_table

    ensure_packages([name])
    task = TABLES_B11[name][0]
    table = {**write_frames(name, task, *split_table(load_table(name), task, seed), out / "data" / f"{name}-s{seed}"),
             "seed": seed}
    search, suffix = ARMS[arm]
    where = out / f"s{seed}-{suffix}"
    settings = argparse.Namespace(seed=seed, verbose=args.verbose, threads=args.threads,
                                  settings={"search": search})
    result = run_topnet_tabular(table, budget, where, settings)
    run_dir = where / f"{name}-{budget}-topnet"
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    key = "accuracy" if "accuracy" in metrics["test"] else "rmse"
    single = metrics["best_single"][key]
    return summary_row(name, budget, seed, arm, "error", result["error"],
                       1.0 - single if key == "accuracy" else single, metrics, run_dir, result["elapsed_s"])


def one_run(data: str, budget: str, seed: int, arm: str, out: Path, args: argparse.Namespace) -> dict:
    if data in TABLES_B11 and data not in TABLES:
        return b11_run(data, budget, seed, arm, out, args)
    search, suffix = ARMS[arm]
    target = "target" if data.endswith(".csv") else None
    name = Path(data).stem
    config = RunConfig(data=data, target=target, budget=budget, seed=seed, search=search, device="cpu",
                       out=str(out / f"{name}-{budget}-s{seed}-{suffix}"),
                       verbose=args.verbose, **({"threads": args.threads} if args.threads else {}))
    started = time.perf_counter()
    metrics = run(config)
    key = "accuracy" if "accuracy" in metrics["test"] else "rmse"
    return summary_row(name, budget, seed, arm, key, metrics["test"][key], metrics["best_single"][key], metrics,
                       Path(config.out), round(time.perf_counter() - started, 1))


def summary_row(name: str, budget: str, seed: int, arm: str, key: str, test: float, single: float,
                metrics: dict, run_dir: Path, elapsed: float) -> dict:
    gain = metrics.get("search", {})
    search = ARMS[arm][0]
    return {"data": name, "budget": budget, "seed": seed, "arm": arm, "search": search, "metric": key,
            "zero_shot": gain.get("zero_shot", False),
            "test": test, "best_single": single,
            "single_name": metrics["best_single"].get("name"), "elapsed_s": elapsed,
            "budget_s": metrics["budget_s"], "trials": gain.get("trials"), "best_is_baseline": gain.get("best_is_baseline"),
            "baseline_valid": gain.get("baseline_valid"), "best_valid": gain.get("best_valid"),
            "members_from_search": gain.get("members_from_search"),
            "members_from_baseline": gain.get("members_from_baseline"),
            "ranks": concordance(trial_ranks(run_dir)) if gain.get("trials") else None}


def trial_ranks(run_dir: Path) -> list[dict]:
    """Per configuration the run retrained from a search trial: the trial's valid score and the
    mean valid score of its retrained members (before any fall-back to the trial's weights)."""
    by_trial: dict[int, dict] = {}
    for path in sorted(Path(run_dir).glob("models/*/config.json")):
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
        trial, trial_valid, retrained = meta.get("trial"), meta.get("trial_valid"), meta.get("retrained_valid")
        if not isinstance(trial, int) or trial < 0 or trial_valid is None or retrained is None:
            continue
        entry = by_trial.setdefault(trial, {"trial": trial, "trial_valid": trial_valid, "retrained": []})
        entry["retrained"].append(retrained)
    return [{**e, "retrained_mean": statistics.mean(e["retrained"])} for e in by_trial.values()]


def concordance(configs: list[dict]) -> dict:
    """Pairs of configurations ordered alike by trial and by retraining (concordant), oppositely
    (discordant), or tied on either side."""
    counts = {"concordant": 0, "discordant": 0, "tied": 0}
    for i, a in enumerate(configs):
        for b in configs[i + 1:]:
            trial = (a["trial_valid"] > b["trial_valid"]) - (a["trial_valid"] < b["trial_valid"])
            retrained = (a["retrained_mean"] > b["retrained_mean"]) - (a["retrained_mean"] < b["retrained_mean"])
            counts["tied" if not trial or not retrained else
                   "concordant" if trial == retrained else "discordant"] += 1
    return counts


def print_ranks(run_dirs: list[str]) -> None:
    total = collections.Counter()
    for run_dir in run_dirs:
        configs = trial_ranks(Path(run_dir))
        counts = concordance(configs)
        total.update(counts)
        listed = "; ".join(f"t{c['trial']} {c['trial_valid']:.4f} -> {c['retrained_mean']:.4f} (x{len(c['retrained'])})"
                           for c in sorted(configs, key=lambda c: -c["trial_valid"]))
        print(f"{Path(run_dir).name}: {listed or 'no configuration from a trial'}; pairs {counts}")
    print(f"all runs: pairs {dict(total)}")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.4f} [{min(values):.4f}–{max(values):.4f}]"


def seconds(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} [{min(values):.0f}–{max(values):.0f}]"


def main() -> None:
    args = parse()
    if args.ranks:
        print_ranks(args.ranks)
        return
    if args.summarise:
        summarise_file(args.summarise)
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # the networks' threads too (the setting covers the classic members)
    out = Path(args.out) / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    arms = args.arms.split(",")
    print(machine_line("B8 search ablation"), flush=True)
    results = []
    for data in args.data:
        source = table_csv(data, out / "tables") if data in TABLES else data
        for budget in args.budgets:
            for seed in args.seeds:
                for arm in arms:  # side by side: each seed's runs run back to back
                    row = one_run(source, budget, seed, arm, out, args)
                    results.append(row)
                    print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    summarise(results)


def arm_of(row: dict) -> str:
    """A row's arm; rows of benches before ``--arms`` say ``search: true / false`` (true then was
    what ``trials`` is now: the search forced on)."""
    return row.get("arm") or ("trials" if row["search"] else "off")


def summarise(results: list[dict]) -> None:
    """The markdown table (median [min–max] over seeds per data, budget and arm), each arm's
    per-seed verdict against ``off``, the trial / retrained rank check, and the median gain of
    each arm over ``off``."""
    print("\n| data | budget | arm | test metric, median [min–max] | best single | seconds used "
          "| best trial = baseline |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    gains, wins = collections.defaultdict(list), []
    for data in dict.fromkeys(r["data"] for r in results):
        for budget in dict.fromkeys(r["budget"] for r in results if r["data"] == data):
            here = [r for r in results if r["data"] == data and r["budget"] == budget]
            rows = {arm: sorted((r for r in here if arm_of(r) == arm), key=lambda r: r["seed"])
                    for arm in ARMS if any(arm_of(r) == arm for r in here)}
            metric = here[0]["metric"]
            sign = 1 if metric == "accuracy" else -1  # error and RMSE: lower is better
            for arm, group in rows.items():
                searched = [r for r in group if r["trials"]]  # runs whose search finished a trial
                baseline_best = sum(bool(r["best_is_baseline"]) for r in searched)
                verdict = ("zero-shot (no trials)" if all(r.get("zero_shot") for r in group) else
                           "–" if arm == "off" else f"{baseline_best} of {len(searched)}" + (
                               f" ({len(group) - len(searched)} finished no trial)" if len(searched) < len(group) else ""))
                print(f"| {data} | {budget} | {arm} | {metric} {spread([r['test'] for r in group])} | "
                      f"{spread([r['best_single'] for r in group])} | {seconds([r['elapsed_s'] for r in group])} | "
                      f"{verdict} |")
            pairs = {r["seed"]: r["test"] for r in rows.get("off", [])}
            for arm, group in rows.items():
                better = [sign * (r["test"] - pairs[r["seed"]]) for r in group if r["seed"] in pairs]
                if arm == "off" or not better:
                    continue  # nothing to pair
                gains[arm].append(sign * 100 * (statistics.median(r["test"] for r in group)
                                                - statistics.median(pairs.values())))
                wins.append(f"{data} {budget}, {arm} against off: better in {sum(b > 0 for b in better)}, tied in "
                            f"{sum(b == 0 for b in better)}, worse in {sum(b < 0 for b in better)} of {len(better)} seeds")
    print("\n" + "\n".join(wins))
    ranks = collections.Counter()
    for r in results:
        ranks.update(r.get("ranks") or {})
    print(f"trial / retrained order of the retrained configurations, pairs over all runs: {dict(ranks)}")
    for arm, values in gains.items():
        print(f"median gain of {arm} over off (test, points; error and RMSE: lower counted as a gain): "
              f"{statistics.median(values):+.2f}")


def summarise_file(paths: list[str]) -> None:
    summarise([row for path in paths for row in json.loads(Path(path).read_text(encoding="utf-8"))])


if __name__ == "__main__":
    main()
