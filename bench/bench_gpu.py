"""B5: Fashion-MNIST time to 94% test accuracy on one GPU — topnet ``fit`` against a hand-written,
GPU-resident PyTorch loop with the same techniques.

One recipe in two stacks: ``small_convnet`` widened to 64 and 128 channels (two conv-BN-ReLU
pairs per stage, dense 256, dropout 0.3), Adam under a 1cycle schedule (peak ``--lr``, three
phases, linear, as ``topnet.train.one_cycle``) over ``--epochs`` epochs, batch ``--batch-size``,
random left-right flips and ±2-pixel shifts done on the GPU a batch at a time, bf16 autocast,
channels-last weights, and ``torch.compile`` of the training forward pass. Both get the same
60k standardised training images as CPU tensors and move them to the device once, inside the
clock; every batch is then cut, augmented and trained on the GPU.

- ``pytorch``: the loop a careful PyTorch user writes for this: an on-device permutation,
  index-slice batches, flips with ``torch.where``, shifts by padding and gathering, autocast,
  ``torch.compile(model)``, ``OneCycleLR(three_phase=True)``.
- ``topnet``: ``topnet.fit(..., device, precision="bf16", channels_last=True, compile=True,
  augment=Compose([RandomFlip(), RandomTranslate(2)]))`` with ``LearningRateScheduler(one_cycle)``.

The clock, as in B1 (``bench_time_to_accuracy.py``, whose helpers this reuses): training only,
stopped (after ``torch.cuda.synchronize``) while the 10k test images are scored after each
epoch; the first epoch at or above a target stops that target's clock, and a run ends at the
last target or after ``--epochs``. Each stack first trains one untimed epoch on four batches in
this process, so CUDA's start-up and the first compile are not counted; each timed run compiles
its own model again (that is counted, as a user pays it). Stacks alternate in a rotating order
within each repeat, so both see the same machine. Printed: per run, then per stack the median
and the spread (min–max) of seconds and epochs to each target, and last the ratio of medians
topnet / PyTorch.

On a lent GPU machine (the data carried as the four IDX files, 30 MB, in an ignored folder):

    PYTHONPATH=src python3 bench/bench_gpu.py --data-path .data/fashion-mnist --json $OUT/b5.json
    python bench/bench_gpu.py --device cpu --no-compile --subset 1024 --test-subset 512 --epochs 1 --repeats 1   # smoke test
"""
from __future__ import annotations

import argparse
import math
import statistics

import torch
from torch import nn

import topnet
from _side_venv import machine_line
from bench_time_to_accuracy import (StopAtTarget, Stopwatch, alternate, load_data, num_params, parse_common,
                                    ratio_text, summarise, test_accuracy)
from topnet.callbacks import LearningRateScheduler
from topnet.data import Compose, RandomFlip, RandomTranslate
from topnet.nn import create_model
from topnet.train.schedules import one_cycle

STACKS = ("pytorch", "topnet")
SHIFT = 2


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.94, help="test accuracy to reach")
    parser.add_argument("--first-target", type=float, default=0.935, help="an earlier target, also timed")
    parser.add_argument("--epochs", type=int, default=24, help="length of the 1cycle schedule (and the most epochs)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3, help="1cycle's peak learning rate (Adam)")
    parser.add_argument("--filters", default="64,128", help="channels of each stage of small_convnet")
    parser.add_argument("--dense", type=int, default=256, help="width of small_convnet's dense layer")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cuda or cpu")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="train without torch.compile")
    args = parse_common(parser, STACKS)
    try:
        args.filters = tuple(int(f) for f in args.filters.split(","))
    except ValueError:
        parser.error(f"--filters: got {args.filters!r}; expected comma-separated ints, e.g. 64,128")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def build(args: argparse.Namespace, seed: int) -> nn.Module:
    torch.manual_seed(seed)  # the weights and the dropout masks
    return create_model("small_convnet", input_shape=(1, 28, 28), num_classes=10, filters=args.filters,
                        dense=args.dense)


def flip_and_shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The hand-written augmentation: each image flipped left-right with probability 1/2 and
    shifted by its own (dy, dx) in [-2, 2] (zeros fill the border), all on x's device."""
    n, _, height, width = x.shape
    flip = torch.rand(n, device=x.device, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = nn.functional.pad(x, (SHIFT, SHIFT, SHIFT, SHIFT))
    dy = torch.randint(0, 2 * SHIFT + 1, (n,), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * SHIFT + 1, (n,), device=x.device, generator=generator)
    rows = (dy[:, None] + torch.arange(height, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def sync_of(device: torch.device):
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None


def run_pytorch(data: dict, seed: int, args: argparse.Namespace) -> dict:
    """The hand-written GPU-resident loop."""
    device = torch.device(args.device)
    model = build(args, seed)
    x_test, y_test = data["x_test_device"], data["y_test_device"]
    watch = Stopwatch([args.first_target, args.target], sync=sync_of(device))
    watch.start()
    x, y = torch.from_numpy(data["x"]).to(device), torch.from_numpy(data["y"]).to(device)
    model.to(device).to(memory_format=torch.channels_last)
    step = torch.compile(model) if args.compile else model
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = math.ceil(len(x) / args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.45,
        anneal_strategy="linear", three_phase=True, div_factor=10.0, final_div_factor=1000.0,
        base_momentum=0.85, max_momentum=0.95)
    generator = torch.Generator(device).manual_seed(seed)
    model.train()
    for _ in range(args.epochs):
        order = torch.randperm(len(x), device=device, generator=generator)
        for start in range(0, len(x), args.batch_size):
            index = order[start:start + args.batch_size]
            xb = flip_and_shift(x[index], generator)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                logits = step(xb)
            loss = nn.functional.cross_entropy(logits.float(), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if watch.epoch_end(lambda: test_accuracy(model, x_test, y_test)):
            break
    return watch.record(num_params(model))


def run_topnet(data: dict, seed: int, args: argparse.Namespace) -> dict:
    """The same recipe through ``topnet.fit``."""
    device = torch.device(args.device)
    model = build(args, seed)
    steps_per_epoch = math.ceil(len(data["x"]) / args.batch_size)
    cycle = one_cycle(args.lr, total_steps=args.epochs * steps_per_epoch)
    watch = Stopwatch([args.first_target, args.target], sync=sync_of(device))
    callbacks = [LearningRateScheduler(cycle, per="step", momentum_schedule=cycle.momentum),
                 StopAtTarget(watch, data["x_test_device"], data["y_test_device"])]
    watch.start()
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    topnet.fit(model, (x, y), epochs=args.epochs, batch_size=args.batch_size, optimizer="adam", lr=args.lr,
               seed=seed, device=device, callbacks=callbacks, precision="bf16", channels_last=True,
               augment=Compose([RandomFlip(), RandomTranslate(SHIFT)]), compile=args.compile, verbose=0)
    return watch.record(num_params(model))


def machine(args: argparse.Namespace) -> str:
    """`machine_line` (host, CPU, versions, UTC time) with the device and whether compile is on."""
    if args.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        where = f"{props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs"
    else:
        where = "device: CPU"
    return machine_line("B5 GPU time to accuracy", f"{where}; compile {'on' if args.compile else 'off'}")


def main() -> None:
    args = parse()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible here; run B5 on a GPU machine, or --device cpu "
                         "for a smoke test")
    torch.backends.cudnn.benchmark = True
    data = load_data(args)
    data["x_test_device"] = torch.from_numpy(data["x_test"]).to(args.device)
    data["y_test_device"] = torch.from_numpy(data["y_test"]).to(args.device)
    print(machine(args))
    print(f"# {len(data['x'])} training images, {len(data['x_test'])} test images; batch {args.batch_size}; "
          f"{args.epochs}-epoch 1cycle to {args.lr:g}; clock: training only (the per-epoch test scoring excluded)",
          flush=True)
    runners = {"pytorch": run_pytorch, "topnet": run_topnet}
    stacks = args.stacks
    targets = {stack: [args.first_target, args.target] for stack in stacks}
    warm_up = argparse.Namespace(**{**vars(args), "epochs": 1})
    small = {key: value[:4 * args.batch_size] for key, value in data.items()}  # 4 steps: one_cycle's least
    for stack in stacks:  # untimed: CUDA context, cuDNN's kernel choice, the first compile
        runners[stack](small, 0, warm_up)
    records = alternate(runners, stacks, data, args, targets)
    medians = summarise(records, targets)
    first = [statistics.median(r["curve"][0][0] for r in records[s]) for s in stacks if records[s]]
    print(f"# median seconds of the first epoch (compile included): "
          + ", ".join(f"{s} {v:.1f}" for s, v in zip(stacks, first)))
    print(f"ratio topnet/pytorch time-to-{args.target:.1%}: {ratio_text(medians, 'pytorch', args.target)}")


if __name__ == "__main__":
    main()
