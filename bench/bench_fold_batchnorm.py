"""Benchmark: eval-mode inference of a trained conv-BN-ReLU convnet against its BN-folded copy.

``topnet.nn.fold.fold_batchnorm`` fuses each Conv→BatchNorm pair into one convolution. This
script trains a small CIFAR-sized convnet for one epoch on random data (so the BatchNorm
statistics are not the initial ones), folds it, checks the two agree, then times batched
inference of both, alternating between them run after run (the order flips every run) so that
drifts in machine load hit both alike. It prints the machine, torch version and date, the median
and spread (interquartile range, min-max) per batch of each, and the speed-up on its last line.

Usage:
    python bench/bench_fold_batchnorm.py [--runs 15] [--batches 10] [--batch-size 64] [--threads N]
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import torch
from torch import nn

import topnet
from topnet.nn.fold import fold_batchnorm


def convnet(num_classes: int = 10) -> nn.Sequential:
    """Five conv-BN-ReLU stacks (32-32-64-64-128 filters), two max-pools, global pooling, a Linear head."""
    def stack(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    return nn.Sequential(*stack(3, 32), *stack(32, 32), nn.MaxPool2d(2), *stack(32, 64), *stack(64, 64),
                         nn.MaxPool2d(2), *stack(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(128, num_classes))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_batches(model: nn.Module, x: torch.Tensor, batches: int) -> float:
    """Seconds per batch over ``batches`` forward passes (inference mode)."""
    with torch.inference_mode():
        start = time.perf_counter()
        for _ in range(batches):
            model(x)
        return (time.perf_counter() - start) / batches


def describe(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1e3 for s in seconds)
    q1, _, q3 = statistics.quantiles(ms, n=4)
    return (f"{name:<9} median {statistics.median(ms):7.2f} ms/batch   IQR {q1:.2f}-{q3:.2f}   "
            f"min-max {ms[0]:.2f}-{ms[-1]:.2f}   ({len(ms)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--batches", type=int, default=10, help="forward passes per timed run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = convnet()
    x_train, y_train = torch.randn(512, 3, 32, 32), torch.randint(0, 10, (512,))
    topnet.fit(model, (x_train, y_train), epochs=1, batch_size=64, verbose=0, device="cpu")
    model.eval()
    folded = fold_batchnorm(model)
    x = torch.randn(args.batch_size, 3, 32, 32)
    with torch.inference_mode():
        difference = float((model(x) - folded(x)).abs().max())

    print(f"machine: {cpu_model()}, {torch.get_num_threads()} torch threads, {platform.system()} {platform.machine()}")
    print(f"torch {torch.__version__}, python {platform.python_version()}, "
          f"date {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
    print(f"model: 5 conv-BN-ReLU stacks on (3, 32, 32), batch {args.batch_size}, {args.batches} batches per run; "
          f"folded {sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())} BatchNorms; "
          f"max abs output difference {difference:.2e}")
    for candidate in (model, folded):  # warm-up: allocator, oneDNN kernels
        time_batches(candidate, x, 3)
    times: dict[str, list[float]] = {"original": [], "folded": []}
    for run in range(args.runs):
        order = [("original", model), ("folded", folded)]
        for name, candidate in order if run % 2 == 0 else order[::-1]:
            times[name].append(time_batches(candidate, x, args.batches))
    print(describe("original", times["original"]))
    print(describe("folded", times["folded"]))
    ratio = statistics.median(times["original"]) / statistics.median(times["folded"])
    print(f"speed-up of fold_batchnorm (original median / folded median): {ratio:.2f}x")


if __name__ == "__main__":
    main()
