"""B2: per-step overhead of ``topnet.fit`` over a hand-written PyTorch loop.

Both train the same model on the same in-memory tensors with the same optimizer, batch size and
shuffling (an index permutation per epoch, index-slice batches); the hand-written loop is the
minimum a careful PyTorch user writes. Runs alternate (hand, topnet, hand, ...) so drift in the
machine's speed hits both alike. Printed: median and spread (min–max) of seconds per step, and
the overhead ratio topnet / hand-written; the last line is the median ratio over all settings.

    python bench/bench_overhead.py                 # MLP and convnet, batch 32 and 128
    python bench/bench_overhead.py --models b1     # B1's 2-conv net (dense 128, dropout)
    python bench/bench_overhead.py --runs 7 --samples 12800
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time

import torch
from torch import nn

import topnet
from bench_time_to_accuracy import two_conv_net
from topnet.callbacks import EarlyStopping, ModelCheckpoint, ProgressBar


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))


def b1_net() -> nn.Module:
    """B1's shared recipe net, as B1 builds it (dense 128, dropout 0.3, Glorot-uniform weights)."""
    return two_conv_net(0)


def convnet() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 10))


MODELS = {"mlp": ("mlp 784-100-100-10", mlp), "convnet": ("small convnet", convnet), "b1": ("B1's 2-conv net", b1_net)}


def hand_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> int:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=generator)
    steps = 0
    model.train()
    for start in range(0, len(x), batch_size):
        index = order[start:start + batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x[index]), y[index])
        loss.backward()
        optimizer.step()
        steps += 1
    return steps


def topnet_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, callbacks: bool) -> int:
    extra = []
    if callbacks:
        folder = tempfile.mkdtemp()
        extra = [ModelCheckpoint(os.path.join(folder, "w.safetensors"), monitor="loss", save_best_only=True,
                                 save_weights_only=True),
                 EarlyStopping(monitor="loss", patience=5), ProgressBar(verbose=1, file=open(os.devnull, "w"))]
    topnet.fit(model, (x, y), epochs=1, batch_size=batch_size, optimizer="adam", lr=1e-3, seed=seed,
               device="cpu", callbacks=extra, verbose=0)
    return -(-len(x) // batch_size)


def timed(fn) -> tuple[float, int]:
    start = time.perf_counter()
    steps = fn()
    return time.perf_counter() - start, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--models", default="mlp,convnet", help=f"comma-separated, from {', '.join(MODELS)}")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models or set(models) - set(MODELS):
        parser.error(f"--models: got {args.models!r}; expected names from {list(MODELS)}")
    print(f"# B2 fit overhead — {datetime.date.today()} — {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(args.samples, 1, 28, 28, generator=g), torch.randint(0, 10, (args.samples,), generator=g)
    ratios = []
    for name, build in (MODELS[m] for m in models):
        for batch_size in (32, 128):
            for callbacks in (False, True):
                hand, ours = [], []
                timed(lambda: hand_loop(build(), x, y, batch_size, 0))  # warm-up
                timed(lambda: topnet_loop(build(), x, y, batch_size, 0, callbacks))
                for run in range(args.runs):
                    seconds, steps = timed(lambda: hand_loop(build(), x, y, batch_size, run))
                    hand.append(seconds / steps)
                    seconds, steps = timed(lambda: topnet_loop(build(), x, y, batch_size, run, callbacks))
                    ours.append(seconds / steps)
                ratio = statistics.median(ours) / statistics.median(hand)
                ratios.append(ratio)
                label = f"{name}, batch {batch_size}, callbacks {'on' if callbacks else 'off'}"
                print(f"{label:<48} hand {statistics.median(hand) * 1e3:7.2f} ms/step [{min(hand) * 1e3:.2f}–{max(hand) * 1e3:.2f}]"
                      f"  topnet {statistics.median(ours) * 1e3:7.2f} ms/step [{min(ours) * 1e3:.2f}–{max(ours) * 1e3:.2f}]"
                      f"  ratio {ratio:.3f}")
    print(f"median overhead ratio topnet/hand-written over {len(ratios)} settings: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
