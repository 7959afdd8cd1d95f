"""B1: Fashion-MNIST time to 92.5% test accuracy — topnet ``fit``, a hand-written PyTorch loop, Keras 3.

One recipe in three stacks: a 2-conv net (conv 32 3×3 ReLU, max pool, conv 64 3×3 ReLU, max
pool, dense 128 ReLU, dropout 0.3, dense 10; "same" padding; Glorot-uniform weights and zero
biases, Keras's defaults, in all three), Adam at lr 1e-3 (each framework's other defaults),
batch 128, a fresh shuffle each epoch, on the 60k training images scaled to [0, 1] and
standardised with the training set's mean and std. topnet and the PyTorch loop train on
in-memory tensors (index-slice batches); Keras 3 (TensorFlow backend, ``tensorflow-cpu``) runs
in its own venv, ``bench/.venv-keras``, that this script makes on first use; when that install
fails the table says "Keras: not installed (reason)" and the rest goes on.

A fourth row, "topnet best", is topnet's own recipe (any architecture and schedule): the
registered ``small_convnet`` (two conv-BN-ReLU pairs per stage), Adam under a 1cycle schedule
(peak 3e-3) over ``--best-epochs`` epochs, random flips and ±2-pixel shifts, ``precision="auto"``
(bf16 on a CPU with AVX512-BF16 or AMX) and channels-last; timed to 92.5% and to 93.5%. The three
stacks of the shared recipe train in float32, each framework's default.

The clock: training time only. Loading and preprocessing the data, building the model and the
test evaluation after each epoch are outside it (the clock stops while the 10k test images are
scored). Scoring the test split after every epoch is fine here because this is a benchmark of
speed, not a way to select a model: every stack is scored the same way, and the first epoch at
or above the target stops its run. A run that does not reach the target in ``--max-epochs``
epochs counts as "not reached" (infinity in the median).

Each stack first trains one untimed epoch on 512 images in the process that times it, so
one-time start-up costs (thread pools, kernel choices) are not counted; per-fit costs (Keras's
tracing, topnet's checks of the data) are. Stacks alternate within each repetition, in a rotating order, so a slower spell of the machine
hits all of them alike. Printed: per run, then per stack the median and the spread (min–max) of
the seconds and epochs to each target, and last the ratio of medians topnet / PyTorch (and
topnet / Keras).

    python bench/bench_time_to_accuracy.py                        # the measurement (44 min on 2 quiet cores)
    python bench/bench_time_to_accuracy.py --subset 2000 --test-subset 1000 --max-epochs 1 --repeats 1 --best-epochs 1   # smoke test
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import topnet
from _side_venv import ensure_venv, machine_line, run_script
from topnet.callbacks import Callback, LearningRateScheduler
from topnet.data import Compose, RandomFlip, RandomTranslate, load
from topnet.nn import create_model, initialize
from topnet.train.schedules import one_cycle

STACKS = ("pytorch", "topnet", "keras", "topnet-best")
BATCH_SIZE = 128


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.925, help="test accuracy to reach")
    parser.add_argument("--best-target", type=float, default=0.935, help="the second target of topnet-best")
    parser.add_argument("--max-epochs", type=int, default=30, help="a run stops here if the target is not reached")
    parser.add_argument("--best-epochs", type=int, default=15, help="length of topnet-best's 1cycle schedule")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads of every stack")
    return parse_common(parser, STACKS)


def parse_common(parser: argparse.ArgumentParser, stacks: tuple[str, ...]) -> argparse.Namespace:
    """Add the arguments every time-to-accuracy benchmark takes (B1 and B5), parse, check ``--stacks``."""
    parser.add_argument("--stacks", default=",".join(stacks), help=f"comma-separated, from {', '.join(stacks)}")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each stack (seeds 0, 1, ...)")
    parser.add_argument("--subset", type=int, default=0, help="training images used (0: all 60k)")
    parser.add_argument("--test-subset", type=int, default=0, help="test images scored (0: all 10k)")
    parser.add_argument("--data-path", default=None, help="folder of the Fashion-MNIST files (default: the usual places)")
    parser.add_argument("--json", default=None, help="write every run's record here")
    args = parser.parse_args()
    args.stacks = [s.strip() for s in args.stacks.split(",") if s.strip()]
    unknown = sorted(set(args.stacks) - set(stacks))
    if unknown:
        parser.error(f"--stacks: got {unknown}; expected names from {list(stacks)}")
    return args


def load_data(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Fashion-MNIST as float32 (N, 1, 28, 28), standardised with the training set's mean and std."""
    splits = load("fashion-mnist", path=args.data_path)
    x, y = splits.train.x, splits.train.y
    x_test, y_test = splits.test.x, splits.test.y
    if args.subset:
        keep = np.random.default_rng(0).permutation(len(x))[:args.subset]
        x, y = x[keep], y[keep]
    if args.test_subset:
        x_test, y_test = x_test[:args.test_subset], y_test[:args.test_subset]
    x = x.astype(np.float32) / 255.0
    mean, std = float(x.mean()), float(x.std())
    return {"x": (x - mean) / std, "y": y.astype(np.int64),
            "x_test": ((x_test.astype(np.float32) / 255.0) - mean) / std, "y_test": y_test.astype(np.int64)}


def two_conv_net(seed: int) -> nn.Module:
    """The recipe's net, initialised as Keras initialises it (Glorot uniform, zero biases)."""
    torch.manual_seed(seed)  # dropout masks
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 14, 14)
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 64, 7, 7)
                          nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
    return initialize(model, "glorot_uniform", seed=seed)


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum()) for i in range(0, len(x), 1000))
    model.train()
    return correct / len(x)


class Stopwatch:
    """Training seconds to each target; the clock stops while the test split is scored.

    ``sync`` waits for queued device work (``torch.cuda.synchronize`` on a GPU, whose kernels
    run after Python returns) before the clock is read.
    """

    def __init__(self, targets: list[float], sync=None) -> None:
        self.targets = targets
        self.sync = sync or (lambda: None)
        self.reached: dict[float, tuple[float, int]] = {}  # target -> (seconds, epochs)
        self.curve: list[tuple[float, float]] = []  # per epoch: (training seconds so far, test accuracy)
        self.seconds = 0.0
        self.mark = time.perf_counter()

    def start(self) -> None:
        self.sync()
        self.mark = time.perf_counter()

    def epoch_end(self, score) -> bool:
        """Stop the clock, score, restart it; True once every target is reached."""
        self.sync()
        self.seconds += time.perf_counter() - self.mark
        accuracy = score()
        self.curve.append((round(self.seconds, 3), round(accuracy, 5)))
        for target in self.targets:
            if accuracy >= target and target not in self.reached:
                self.reached[target] = (self.seconds, len(self.curve))
        self.mark = time.perf_counter()
        return len(self.reached) == len(self.targets)

    def record(self, params: int) -> dict:
        return {"params": params, "curve": self.curve, "epochs": len(self.curve),
                "reached": {str(t): list(v) for t, v in self.reached.items()}}


class StopAtTarget(Callback):
    """topnet's side of the stopwatch: score the test split after each epoch, stop at the target."""

    def __init__(self, watch: Stopwatch, x_test: torch.Tensor, y_test: torch.Tensor) -> None:
        self.watch = watch
        self.x_test = x_test
        self.y_test = y_test

    def on_epoch_end(self, state) -> None:
        if self.watch.epoch_end(lambda: test_accuracy(state.model, self.x_test, self.y_test)):
            state.stop_training = True


def run_pytorch(data: dict, seed: int, args: argparse.Namespace) -> dict:
    """The hand-written loop: the minimum a careful PyTorch user writes for in-memory tensors."""
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    x_test, y_test = torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"])
    model = two_conv_net(seed)
    watch = Stopwatch([args.target])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(args.max_epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), BATCH_SIZE):
            index = order[start:start + BATCH_SIZE]
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
        if watch.epoch_end(lambda: test_accuracy(model, x_test, y_test)):
            break
    return watch.record(num_params(model))


def run_topnet(data: dict, seed: int, args: argparse.Namespace) -> dict:
    """The same recipe through ``topnet.fit`` (train accuracy logged, as Keras's ``fit`` does here)."""
    model = two_conv_net(seed)
    watch = Stopwatch([args.target])
    stop = StopAtTarget(watch, torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"]))
    watch.start()
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    topnet.fit(model, (x, y), epochs=args.max_epochs, batch_size=BATCH_SIZE, optimizer="adam",
               lr=1e-3, metrics=["accuracy"], seed=seed, device="cpu", callbacks=[stop], verbose=0)
    return watch.record(num_params(model))


def run_topnet_best(data: dict, seed: int, args: argparse.Namespace) -> dict:
    """topnet's own recipe: small_convnet (BN), Adam under 1cycle (peak 3e-3), flips and ±2-pixel
    shifts, bf16 where the CPU has it and channels-last (what ``topnet run`` trains with)."""
    torch.manual_seed(seed)
    model = create_model("small_convnet", input_shape=(1, 28, 28), num_classes=10)
    epochs = min(args.best_epochs, args.max_epochs)
    cycle = one_cycle(3e-3, total_steps=epochs * math.ceil(len(data["x"]) / BATCH_SIZE))
    watch = Stopwatch([args.target, args.best_target])
    callbacks = [LearningRateScheduler(cycle, per="step", momentum_schedule=cycle.momentum),
                 StopAtTarget(watch, torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"]))]
    watch.start()
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    topnet.fit(model, (x, y), epochs=epochs, batch_size=BATCH_SIZE, optimizer="adam", lr=3e-3,
               metrics=["accuracy"], seed=seed, device="cpu", callbacks=callbacks, precision="auto",
               channels_last=True, augment=Compose([RandomFlip(), RandomTranslate(2)]), verbose=0)
    return watch.record(num_params(model))


KERAS_SCRIPT = r'''
"""B1's Keras 3 stack: the same 2-conv net, Adam 1e-3, batch 128; prints a JSON record last."""
import json, sys, time
import numpy as np
import tensorflow as tf
import keras

data_path, target, max_epochs, seed, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(threads)
data = np.load(data_path)
x, y = data["x"].transpose(0, 2, 3, 1), data["y"]  # channels last: (N, 28, 28, 1)
x_test, y_test = data["x_test"].transpose(0, 2, 3, 1), data["y_test"]


def build():
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(0.3),
        keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


build().fit(x[:512], y[:512], batch_size=128, epochs=1, verbose=0)  # warm-up, untimed: the process's start-up costs
keras.utils.set_random_seed(seed)
model = build()


class StopAtTarget(keras.callbacks.Callback):
    """The clock stops while the test split is scored; training stops at the target."""

    def __init__(self):
        super().__init__()
        self.seconds, self.curve, self.reached, self.mark = 0.0, [], {}, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self.mark
        logits = self.model.predict(x_test, batch_size=1000, verbose=0)
        accuracy = float(np.mean(logits.argmax(1) == y_test))
        self.curve.append((round(self.seconds, 3), round(accuracy, 5)))
        if accuracy >= target and str(target) not in self.reached:
            self.reached[str(target)] = [self.seconds, len(self.curve)]
            self.model.stop_training = True
        self.mark = time.perf_counter()


stop = StopAtTarget()
stop.mark = time.perf_counter()
model.fit(x, y, batch_size=128, epochs=max_epochs, shuffle=True, callbacks=[stop], verbose=0)
print(json.dumps({"params": model.count_params(), "curve": stop.curve, "epochs": len(stop.curve),
                  "reached": stop.reached, "versions": f"keras {keras.__version__}, tensorflow {tf.__version__}"}))
'''


def keras_runner(data: dict, args: argparse.Namespace, folder: Path):
    """A function running the Keras stack, or None and the reason Keras is not installed."""
    python, said = ensure_venv("keras", [["tensorflow-cpu", "keras"]],
                               "import keras, tensorflow; print(f'keras {keras.__version__}, tensorflow {tensorflow.__version__}')")
    if python is None:
        return None, said
    path = folder / "data.npz"
    np.savez(path, **data)
    env = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}

    def run(_data: dict, seed: int, run_args: argparse.Namespace) -> dict:
        return run_script(python, KERAS_SCRIPT, [str(path), str(run_args.target), str(run_args.max_epochs), str(seed),
                                                 str(run_args.threads)], timeout=6 * 3600, env=env)

    return run, said


def describe(stack: str, record: dict, targets: list[float]) -> str:
    parts = []
    for target in targets:
        hit = record["reached"].get(str(target))
        parts.append(f"{target:.1%} after {hit[0]:.1f} s (epoch {hit[1]})" if hit else
                     f"{target:.1%} not reached in {record['epochs']} epochs")
    best = max((a for _, a in record["curve"]), default=float("nan"))
    return f"{stack:<12} {'; '.join(parts)}; best test accuracy {best:.4f}"


def summarise(records: dict[str, list[dict]], targets: dict[str, list[float]]) -> dict[tuple[str, float], float]:
    """Print the table; return the median seconds per (stack, target) (inf: not reached)."""
    medians = {}
    print(f"\n{'stack':<12} {'params':>8}  {'target':>6}  {'seconds: median [min–max]':<28} {'epochs: median':<14} reached")
    for stack, runs in records.items():
        for target in targets[stack]:
            hits = [run["reached"].get(str(target)) for run in runs]
            seconds = [h[0] if h else math.inf for h in hits]
            epochs = [h[1] if h else math.inf for h in hits]
            medians[stack, target] = statistics.median(seconds)
            spread = f"{statistics.median(seconds):.1f} [{min(seconds):.1f}–{max(seconds):.1f}]"
            print(f"{stack:<12} {runs[0]['params']:>8}  {target:>6.1%}  {spread:<28} {statistics.median(epochs):<14} "
                  f"{sum(h is not None for h in hits)}/{len(hits)}")
    return medians


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    data = load_data(args)
    folder = Path(tempfile.mkdtemp(prefix="bench_b1_"))  # Keras's copy of the data
    try:
        measure(args, data, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(args: argparse.Namespace, data: dict, folder: Path) -> None:
    runners = {"pytorch": run_pytorch, "topnet": run_topnet, "topnet-best": run_topnet_best}
    keras_note = ""
    if "keras" in args.stacks:
        runners["keras"], keras_note = keras_runner(data, args, folder)
        if runners["keras"] is None:
            keras_note = f"Keras: not installed ({keras_note})"
    print(machine_line("B1 time to accuracy", keras_note))
    print(f"# {len(data['x'])} training images, {len(data['x_test'])} test images; batch {BATCH_SIZE}; clock: training "
          f"only (data loading and the per-epoch test scoring excluded); at most {args.max_epochs} epochs", flush=True)
    stacks = [s for s in args.stacks if runners.get(s) is not None]
    targets = {s: [args.target, args.best_target] if s == "topnet-best" else [args.target] for s in stacks}
    warm_up = argparse.Namespace(**{**vars(args), "max_epochs": 1, "best_epochs": 1})
    for stack in stacks:  # untimed: thread pools and kernel choices are set up once per process (Keras: in its script)
        if stack != "keras":
            runners[stack]({key: value[:512] for key, value in data.items()}, 0, warm_up)
    records = alternate(runners, stacks, data, args, targets)
    medians = summarise(records, targets) if stacks else {}
    keras = ratio_text(medians, "keras", args.target) if "keras" in records else (keras_note or "not run")
    print(f"ratio topnet/pytorch time-to-{args.target:.1%}: {ratio_text(medians, 'pytorch', args.target)} "
          f"(topnet/keras: {keras})")


def alternate(runners: dict, stacks: list[str], data: dict, args: argparse.Namespace,
              targets: dict[str, list[float]]) -> dict[str, list[dict]]:
    """``args.repeats`` runs of each stack (seed = the repeat), in a rotating order within each
    repeat; prints each run as it ends and writes every record to ``args.json``."""
    records: dict[str, list[dict]] = {s: [] for s in stacks}
    for repeat in range(args.repeats):
        for stack in stacks[repeat % len(stacks):] + stacks[:repeat % len(stacks)]:  # rotating order
            record = runners[stack](data, repeat, args)
            records[stack].append(record)
            print(f"run {repeat + 1}/{args.repeats} {describe(stack, record, targets[stack])}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "records": records}, indent=1) + "\n")
    return records


def ratio_text(medians: dict[tuple[str, float], float], anchor: str, target: float) -> str:
    """The ratio of median seconds topnet / anchor, or why there is none."""
    ours, theirs = medians.get(("topnet", target)), medians.get((anchor, target))
    if ours is None or theirs is None:
        return "n/a (not run)"
    if math.isinf(theirs):
        return f"n/a ({anchor} did not reach the target in most runs)"
    return f"{ours / theirs:.2f}" if not math.isinf(ours) else "inf (topnet did not reach the target in most runs)"


if __name__ == "__main__":
    main()
