"""B8: does the search earn its time? ``topnet run`` as shipped against the same run with the search off.

For each dataset, budget and seed, two runs with the same settings side by side: ``search =
true`` (the default) and ``search = false`` (no trials: the search's time goes to retraining the
baseline configuration, as many members as fit). Recorded from each run's ``metrics.json``: the
ensemble's test accuracy (RMSE for regression), the best single model's, the seconds used
against the budget, and what the search bought (``metrics["search"]``: the baseline trial and the
best trial on valid, and how many members came from each). The test split is each dataset's
own (MNIST-1D's 1,000 test signals, Fashion-MNIST's 10,000 images) or, for tables, the run's
own test split.

Datasets: ``mnist1d`` (the ``mnist1d`` package's default data), ``fashion-mnist`` (Debian's
``dataset-fashion-mnist``), and scikit-learn's bundled tables ``breast_cancer`` (binary) and
``wine`` (3 classes), written to CSV with a ``target`` column.

The last line is the median over datasets and budgets of (test accuracy with search − without),
in points; above 0: the search helps.

    python bench/bench_search_ablation.py --data mnist1d --budgets 5m --seeds 0 1 2
    python bench/bench_search_ablation.py --data breast_cancer,wine --budgets 1m --seeds 0 1 2
    python bench/bench_search_ablation.py --data mnist1d --budgets 40s --seeds 0 --out /tmp/b8   # smoke test
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from _side_venv import machine_line
from topnet.pipeline import RunConfig, run

TABLES = ("breast_cancer", "wine")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist1d", help=f"comma-separated: mnist1d, fashion-mnist, {', '.join(TABLES)}")
    parser.add_argument("--budgets", nargs="+", default=["5m"], help="budgets of each run")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default="runs/bench_search_ablation", help="run directories go to OUT/<UTC time>/")
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--verbose", type=int, default=0, help="topnet run's phase lines (0: none)")
    args = parser.parse_args()
    args.data = [d.strip() for d in args.data.split(",") if d.strip()]
    return args


def table_csv(name: str, folder: Path) -> str:
    """A scikit-learn bundled table as CSV with a ``target`` column (no download)."""
    import sklearn.datasets

    frame = getattr(sklearn.datasets, f"load_{name}")(as_frame=True).frame
    path = folder / f"{name}.csv"
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return str(path)


def one_run(data: str, budget: str, seed: int, search: bool, out: Path, verbose: int) -> dict:
    target = "target" if data.endswith(".csv") else None
    name = Path(data).stem
    config = RunConfig(data=data, target=target, budget=budget, seed=seed, search=search, device="cpu",
                       out=str(out / f"{name}-{budget}-s{seed}-{'search' if search else 'nosearch'}"), verbose=verbose)
    started = time.perf_counter()
    metrics = run(config)
    key = "accuracy" if "accuracy" in metrics["test"] else "rmse"
    gain = metrics.get("search", {})
    return {"data": name, "budget": budget, "seed": seed, "search": search, "metric": key,
            "test": metrics["test"][key], "best_single": metrics["best_single"][key],
            "single_name": metrics["best_single"].get("name"), "elapsed_s": round(time.perf_counter() - started, 1),
            "budget_s": metrics["budget_s"], "trials": gain.get("trials"), "best_is_baseline": gain.get("best_is_baseline"),
            "baseline_valid": gain.get("baseline_valid"), "best_valid": gain.get("best_valid"),
            "members_from_search": gain.get("members_from_search"),
            "members_from_baseline": gain.get("members_from_baseline")}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.4f} [{min(values):.4f}–{max(values):.4f}]"


def seconds(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} [{min(values):.0f}–{max(values):.0f}]"


def main() -> None:
    args = parse()
    out = Path(args.out) / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    print(machine_line("B8 search ablation"), flush=True)
    results = []
    for data in args.data:
        source = table_csv(data, out / "tables") if data in TABLES else data
        for budget in args.budgets:
            for seed in args.seeds:
                for search in (True, False):  # side by side: each seed's pair runs back to back
                    row = one_run(source, budget, seed, search, out, args.verbose)
                    results.append(row)
                    print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"\n| data | budget | search | test {results[0]['metric']} median [min–max] | best single | seconds used "
          "| best trial = baseline |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    gains = []
    for data in dict.fromkeys(r["data"] for r in results):
        for budget in args.budgets:
            pair = {}
            for search in (True, False):
                rows = [r for r in results if r["data"] == data and r["budget"] == budget and r["search"] == search]
                pair[search] = statistics.median(r["test"] for r in rows)
                baseline_best = sum(bool(r["best_is_baseline"]) for r in rows if r["trials"])
                print(f"| {data} | {budget} | {'on' if search else 'off'} | {spread([r['test'] for r in rows])} | "
                      f"{spread([r['best_single'] for r in rows])} | {seconds([r['elapsed_s'] for r in rows])} | "
                      f"{f'{baseline_best} of {len(rows)}' if search else '–'} |")
            sign = 1 if results[0]["metric"] == "accuracy" else -1
            gains.append(sign * 100 * (pair[True] - pair[False]))
    print(f"\nmedian gain of the search over no search (test, points): {statistics.median(gains):+.2f}")


if __name__ == "__main__":
    main()
