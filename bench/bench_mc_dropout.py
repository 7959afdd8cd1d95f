"""MC dropout: speed-up of trunk caching over the naive loop of full forward passes.

The model has a heavy conv trunk (no dropout) and dropout only in the classifier head, the case
Géron's advice ("dropout in the top 1-3 layers") produces. ``mc_predict(cache_trunk=True)``
runs the trunk once per batch and the head on (samples × rows); ``cache_trunk=False`` runs the
whole model once per sample. Both draw the same masks, so the results are checked equal first.
Timings alternate between the two (so drifts in machine load hit both) and are reported as the
median with the spread (min-max) over ``--repeats`` pairs.

    python bench/bench_mc_dropout.py                          # 100 samples, 512 images
    python bench/bench_mc_dropout.py --samples 5 --rows 16 --repeats 2   # smoke test

Last line: ``ratio naive/cached = X.XX`` (the anchor is the naive loop).
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import torch
from torch import nn

from topnet.train.loop import resolve_device
from topnet.uncertainty import mc_predict


def heavy_trunk_model(width: int = 64) -> nn.Sequential:
    """A VGG-like trunk on 28×28 images and a dropout head: (N, 1, 28, 28) -> (N, 10) logits."""
    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(1, width), *block(width, 2 * width), *block(2 * width, 4 * width),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(),                      # (N, 4 * width)
                         nn.Dropout(0.5), nn.Linear(4 * width, 128), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(128, 10))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = heavy_trunk_model(args.width).to(device).eval()
    x = torch.randn(args.rows, 1, 28, 28, device=device)
    run = {name: (lambda cache=cache: mc_predict(model, x, args.samples, seed=0, batch_size=args.batch_size,
                                                  device=device, cache_trunk=cache))
           for name, cache in (("naive", False), ("cached", True))}
    cached, naive = run["cached"](), run["naive"]()  # warm-up, and the two must agree
    assert torch.allclose(cached.mean, naive.mean, atol=1e-5), "cached and naive MC dropout disagree"

    times: dict[str, list[float]] = {"naive": [], "cached": []}
    for _ in range(args.repeats):
        for name in ("naive", "cached"):
            times[name].append(timed(run[name]))
    detail = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"machine: {platform.node()} {platform.machine()} {platform.processor() or ''} | device: {device} ({detail})")
    print(f"torch {torch.__version__} | {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"setting: samples={args.samples} rows={args.rows} batch_size={args.batch_size} width={args.width} "
          f"repeats={args.repeats}")
    for name, values in times.items():
        print(f"{name:>7}: median {statistics.median(values):.4f} s  (min {min(values):.4f}, max {max(values):.4f})")
    ratios = [n / c for n, c in zip(times["naive"], times["cached"])]
    print(f"per-pair ratios: min {min(ratios):.2f}, max {max(ratios):.2f}")
    print(f"ratio naive/cached = {statistics.median(times['naive']) / statistics.median(times['cached']):.2f}")


if __name__ == "__main__":
    main()
