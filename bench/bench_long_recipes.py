"""How far longer training and augmentation take a retrained model on Fashion-MNIST.

``topnet run`` retrains the search's best configurations on all 48,000 train rows; the search
ranks them on short, small trials, which favour configurations that learn fast (no
augmentation). This measures what the same configuration gives when trained longer, with and
without augmentation, as a single model, with flip test-time augmentation (TTA: the mean of the
softmax of the image and of its mirror) and as an ensemble of the seeds' models (the mean of
their softmax). Test accuracy depends on the device only through numerics, so the figures hold
for CPU runs; the GPU just makes the grid cheap.

Each recipe is ``topnet.configs.train_config`` on ``topnet run``'s own splits (seed 0:
48,000 train, 6,000 valid, 6,000 blend, the 10,000 official test images), with the
precision and memory layout ``topnet run`` uses (``precision="auto"``, channels last). One
process per seed; the seeds run side by side.

    python bench/bench_long_recipes.py --seeds 0 1 2 --out /tmp/recipes     # all seeds, in parallel
    python bench/bench_long_recipes.py --seeds 0 --recipes none-3 --out /tmp/r  # smoke test
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RECIPES = {  # name: (changes to the baseline configuration, augment, epochs)
    "none-10": ({}, "none", 10), "none-20": ({}, "none", 20), "flip_crop-20": ({}, "flip_crop", 20),
    "flip_crop-30": ({}, "flip_crop", 30), "crop-20": ({}, "crop", 20), "none-3": ({}, "none", 3),
    "w64-none-10": ({"width": 64}, "none", 10), "d3-none-10": ({"depth": 3}, "none", 10),
    "w48-none-10": ({"width": 48}, "none", 10),
    # the baseline at Keras's default rate against the LR range test's valley suggestion in B8's
    # 60-minute runs (2.56e-4 and 2.68e-4 for Adam), which the retrained baseline members used
    "none-8": ({}, "none", 8), "valley-none-8": ({"lr": 2.6e-4}, "none", 8),
}
BASELINE = {"family": "small_convnet", "depth": 2, "width": 32, "batch_norm": True, "dropout": 0.3,
            "optimizer": "adam", "lr": 1e-3, "schedule": "cosine", "weight_decay": 1e-6, "batch_size": 128}


def _probabilities(model, x, *, flip: bool) -> np.ndarray:
    import torch

    from topnet import predict

    x = torch.as_tensor(x)
    probs = torch.softmax(predict(model, x).float(), dim=1)
    if flip:
        probs = (probs + torch.softmax(predict(model, torch.flip(x, dims=[-1])).float(), dim=1)) / 2
    return probs.numpy()


def run_seed(seed: int, recipes: list[str], out: Path) -> None:
    from topnet.pipeline.config import RunConfig
    from topnet.pipeline.data import prepare
    from topnet.configs.data_spec import TrialData
    from topnet.configs.settings import FitSettings
    from topnet.configs.training import train_config

    data = prepare(RunConfig(data="fashion-mnist", seed=0))
    test = data.test.open()  # the sealed test split (RunSplits keeps it out of splits), read once
    for name in recipes:
        changes, augment, epochs = RECIPES[name]
        settings = FitSettings(epochs=epochs, metric="val_accuracy", precision="auto", channels_last=True, seed=seed)
        started = time.perf_counter()
        outcome = train_config({**BASELINE, **changes, "augment": augment}, TrialData(data.splits), settings, seed=seed)
        seconds = time.perf_counter() - started
        plain, tta = (_probabilities(outcome.model, test.x, flip=f) for f in (False, True))
        np.savez_compressed(out / f"{name}-s{seed}.npz", plain=plain, tta=tta, y=np.asarray(test.y))
        row = {"recipe": name, "seed": seed, "valid": outcome.value, "best_epoch": outcome.best_epoch,
               "test": float((plain.argmax(1) == np.asarray(test.y)).mean()),
               "test_tta": float((tta.argmax(1) == np.asarray(test.y)).mean()), "seconds": round(seconds, 1)}
        print(json.dumps(row), flush=True)
        with open(out / "rows.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def summarize(out: Path, recipes: list[str], seeds: list[int]) -> None:
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    print(f"{'recipe':14s} {'valid (med)':>11s} {'test (med)':>10s} {'test range':>15s} {'TTA (med)':>9s} "
          f"{'ens test':>8s} {'ens TTA':>8s} {'s/model':>7s}")
    for name in recipes:
        mine = [r for r in rows if r["recipe"] == name]
        if not mine:
            continue
        files = [out / f"{name}-s{s}.npz" for s in seeds if (out / f"{name}-s{s}.npz").exists()]
        loaded = [np.load(f) for f in files]
        y = loaded[0]["y"]
        ens = float((np.mean([d["plain"] for d in loaded], 0).argmax(1) == y).mean())
        ens_tta = float((np.mean([d["tta"] for d in loaded], 0).argmax(1) == y).mean())
        med = lambda key: float(np.median([r[key] for r in mine]))  # noqa: E731
        tests = [r["test"] for r in mine]
        print(f"{name:14s} {med('valid'):11.4f} {med('test'):10.4f} {min(tests):.4f}–{max(tests):.4f} "
              f"{med('test_tta'):9.4f} {ens:8.4f} {ens_tta:8.4f} {med('seconds'):7.0f}   ({len(mine)} seeds)")
        if len(loaded) > 3:  # the ensemble's test accuracy as members are added, in seed order
            growth = [float((np.mean([d["plain"] for d in loaded[:k]], 0).argmax(1) == y).mean())
                      for k in range(1, len(loaded) + 1)]
            print(f"{'':14s} ensemble of the first k seeds, k = 1..{len(loaded)}: "
                  + " ".join(f"{a:.4f}" for a in growth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", default=["none-10", "none-20", "crop-20", "flip_crop-20", "flip_crop-30"],
                        choices=sorted(RECIPES))
    parser.add_argument("--more-seeds", type=int, nargs="*", default=[],
                        help="seeds that train only the first recipe (for an ensemble's growth)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.worker is not None:
        run_seed(args.worker, args.recipes, args.out)
        return
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU, {os.cpu_count()} cores"
    print(f"# {device}, torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    workers = [subprocess.Popen([sys.executable, __file__, "--worker", str(s), "--out", str(args.out),
                                 "--recipes", *args.recipes]) for s in args.seeds]
    workers += [subprocess.Popen([sys.executable, __file__, "--worker", str(s), "--out", str(args.out),
                                  "--recipes", args.recipes[0]]) for s in args.more_seeds]
    codes = [w.wait() for w in workers]
    summarize(args.out, args.recipes, [*args.seeds, *args.more_seeds])
    if any(codes):
        sys.exit(f"a worker failed: exit codes {codes}")


if __name__ == "__main__":
    main()
