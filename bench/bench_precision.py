"""Seconds per epoch of ``small_convnet`` training on 48,000 Fashion-MNIST-sized images, by
precision and memory layout: float32 vs bf16 autocast, NCHW vs channels-last.

Each setting trains ``--steps`` batches of 128 random 1×28×28 images (after 8 warm-up steps) with
Adam, through ``topnet.fit``'s own step (``precision`` and ``channels_last`` are fit's options);
the time is scaled to a 48,000-row epoch. Settings alternate within each repeat, in a rotating
order. Printed: per setting the median and min–max over the repeats, and last the ratio
float32 NCHW / bf16 channels-last.

    python bench/bench_precision.py                 # 5 repeats, about 3 minutes on 2 cores
    python bench/bench_precision.py --repeats 1 --steps 4   # smoke test
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import topnet
from topnet.callbacks import Callback
from topnet.nn import create_model
from topnet.train.loop import native_bf16

SETTINGS = [("float32", False), ("float32", True), ("bf16", False), ("bf16", True)]


class _Clock(Callback):
    """Times the batches after the warm-up ones."""

    def __init__(self, warmup: int):
        self.warmup, self.started, self.seconds = warmup, None, 0.0

    def on_batch_end(self, state):
        if state.batch + 1 == self.warmup:
            self.started = time.perf_counter()

    def on_epoch_end(self, state):
        self.seconds = time.perf_counter() - self.started


def seconds_per_epoch(precision: str, channels_last: bool, steps: int, warmup: int = 8) -> float:
    torch.manual_seed(0)
    n = 128 * (steps + warmup)
    x, y = torch.randn(n, 1, 28, 28), torch.randint(0, 10, (n,))
    clock = _Clock(warmup)
    topnet.fit(create_model("small_convnet"), (x, y), epochs=1, batch_size=128, device="cpu", precision=precision,
               channels_last=channels_last, callbacks=[clock], shuffle=False, verbose=0)
    return clock.seconds / (128 * steps) * 48_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    print(f"# CPU, {os.cpu_count()} cores, {torch.get_num_threads()} threads, native bf16: {native_bf16('cpu')}, "
          f"torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    times: dict[tuple[str, bool], list[float]] = {s: [] for s in SETTINGS}
    for repeat in range(args.repeats):
        order = SETTINGS[repeat % len(SETTINGS):] + SETTINGS[:repeat % len(SETTINGS)]
        for setting in order:
            times[setting].append(seconds_per_epoch(*setting, steps=args.steps))
            print(f"repeat {repeat}: {setting[0]:8s} {'channels-last' if setting[1] else 'NCHW':13s} "
                  f"{times[setting][-1]:6.1f} s/epoch", flush=True)
    print(f"{'precision':9s} {'layout':13s} {'median s/epoch':>14s} {'min–max':>13s}")
    for (precision, cl), values in times.items():
        print(f"{precision:9s} {'channels-last' if cl else 'NCHW':13s} {statistics.median(values):14.1f} "
              f"{min(values):6.1f}–{max(values):.1f}")
    base, best = statistics.median(times[("float32", False)]), statistics.median(times[("bf16", True)])
    print(f"ratio float32 NCHW / bf16 channels-last: {base / best:.2f}")


if __name__ == "__main__":
    main()
