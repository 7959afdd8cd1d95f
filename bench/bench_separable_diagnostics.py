"""Chollet's depthwise-separable convnet on Fashion-MNIST: does it stay at chance, and why?

The model as the book writes it (ch. 7): six SeparableConv2D(3×3, ReLU) layers 32, 64, (max-pool),
64, 128, (max-pool), 64, 128, global average pooling, Dense(32, ReLU), Dense(10); no BatchNorm;
Keras's default init (Glorot uniform kernels, zero biases) and "valid" padding; RMSprop
lr 1e-3, rho 0.9, eps 1e-7; batch 128. A separable conv is built from a depthwise conv
(groups = input channels, no bias) and a 1×1 pointwise conv (with the bias), as Keras does.

Fashion-MNIST's 28×28 images are zero-padded to 32×32: with "valid" padding the book's layer
stack needs 32×32 (CIFAR-10, the book's data), and 28×28 would shrink to 0×0 at the last conv.

Why it can stay at chance: Glorot's limit uses fan_in + fan_out = 9·(C + 1) for a 3×3
depthwise kernel, whose output sees only 9 inputs, so each depthwise conv scales the signal's
variance by about 2 / (C + 1); five of them shrink the activations to ~0 and the logits to
the biases (loss ln 10), and the gradients of the lower layers vanish. Whether RMSprop then
escapes depends on where eps goes: Keras 3 divides by sqrt(v + eps), which caps steps on
gradients far below sqrt(eps) ≈ 3e-4; torch (and Keras 2) divide by sqrt(v) + eps, which
turns even tiny gradients into steps of about lr. ``--optimizer`` picks one.

Each variant is trained with the ``Diagnostics`` callback reporting every ``--every`` batches
of the first epoch (gradient RMS ratio bottom/top, findings), then scored on the test split:
    book   as written;
    bn     BatchNorm after each separable conv (before the ReLU), the remedy the findings name;
    he     He initialisation (fan-in of the depthwise kernel = 9 taps), no BatchNorm.

    python bench/bench_separable_diagnostics.py                      # full data, 1 epoch
    python bench/bench_separable_diagnostics.py --subset 512 --test-subset 256 --every 2   # smoke test

Last line: ``ratio accuracy bn/book = X.XX`` (the anchor is the book's model).
"""
from __future__ import annotations

import argparse
import datetime
import platform
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

import topnet
from topnet.callbacks.diagnostics import Diagnostics
from topnet.train.loop import resolve_device


class KerasRMSprop(torch.optim.Optimizer):
    """Keras 3's RMSprop: ``w -= lr * g / sqrt(v + eps)`` (torch and Keras 2 use sqrt(v) + eps)."""

    def __init__(self, params, lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-7):
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                v = self.state[p].setdefault("velocity", torch.zeros_like(p))
                v.mul_(group["rho"]).addcmul_(p.grad, p.grad, value=1 - group["rho"])
                p.addcdiv_(p.grad, (v + group["eps"]).sqrt(), value=-group["lr"])


def separable(cin: int, cout: int, batch_norm: bool) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cin, 3, groups=cin, bias=False), nn.Conv2d(cin, cout, 1)]  # depthwise, pointwise
    return layers + ([nn.BatchNorm2d(cout)] if batch_norm else []) + [nn.ReLU()]


def chollet_separable_convnet(variant: str) -> nn.Sequential:
    bn = variant == "bn"
    model = nn.Sequential(*separable(1, 32, bn), *separable(32, 64, bn), nn.MaxPool2d(2),       # (N, 64, 14, 14)
                          *separable(64, 64, bn), *separable(64, 128, bn), nn.MaxPool2d(2),    # (N, 128, 5, 5)
                          *separable(128, 64, bn), *separable(64, 128, bn),                    # (N, 128, 1, 1)
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 10))
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if variant == "he" and module is not model[-1]:
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")  # fan-in: 9 for a depthwise kernel
            else:
                nn.init.xavier_uniform_(module.weight)  # Keras's glorot_uniform: same fan_in + fan_out
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def prepare(x, scaling: str, mean_std=None):
    x = F.pad(torch.as_tensor(x).float(), (2, 2, 2, 2))  # (N, 1, 32, 32), background 0
    if scaling == "unit":
        return x / 255.0, None  # the book's scaling
    mean, std = mean_std if mean_std is not None else (x.mean(), x.std())
    return (x - mean) / std, (mean, std)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=60000, help="training images used")
    parser.add_argument("--test-subset", type=int, default=10000, help="test images scored")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--every", type=int, default=25, help="batches between diagnostics readings")
    parser.add_argument("--scaling", choices=["unit", "standard"], default="unit", help="pixels/255 or standardised")
    parser.add_argument("--optimizer", choices=["keras3", "torch"], default="keras3",
                        help="RMSprop with eps inside the sqrt (Keras 3) or outside (torch, Keras 2)")
    parser.add_argument("--variants", default="book,bn,he")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    splits = topnet.data.load("fashion-mnist")
    x_train, stats = prepare(splits.train.x[: args.subset], args.scaling)
    x_test, _ = prepare(splits.test.x[: args.test_subset], args.scaling, stats)
    y_train = torch.as_tensor(splits.train.y[: args.subset]).long()
    y_test = torch.as_tensor(splits.test.y[: args.test_subset]).long()
    print(f"machine: {platform.node()} {platform.machine()} | device: {device} | torch {torch.__version__} | "
          f"{datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"setting: subset={args.subset} test={args.test_subset} epochs={args.epochs} batch={args.batch_size} "
          f"scaling={args.scaling} optimizer=rmsprop({args.optimizer}) seed={args.seed}")

    accuracy = {}
    for variant in args.variants.split(","):
        torch.manual_seed(args.seed)
        model = chollet_separable_convnet(variant)
        optimizer = (KerasRMSprop(model.parameters()) if args.optimizer == "keras3"
                     else torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7))
        diagnostics = Diagnostics(every_n_batches=args.every, on_epoch_end=False)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # findings are printed below instead
            history = topnet.fit(model, (x_train, y_train), epochs=args.epochs, batch_size=args.batch_size,
                                 optimizer=optimizer, metrics=["accuracy"], callbacks=[diagnostics],
                                 seed=args.seed, device=device, verbose=0)
        seconds = time.perf_counter() - start
        scores = topnet.evaluate(model, (x_test, y_test), metrics=["accuracy"], device=device)
        accuracy[variant] = scores["accuracy"]
        print(f"\n=== {variant}: train acc {history.history['accuracy'][-1]:.3f}, test acc {scores['accuracy']:.3f} "
              f"({'at chance' if scores['accuracy'] < 0.15 else 'learning'}), {seconds:.0f} s")
        print(f"first reading (epoch 1, batch 0):\n{diagnostics.reports[0][2]}")
        print("readings: epoch batch  loss    grad_norm_ratio  findings")
        for epoch, batch, report in diagnostics.reports:
            print(f"          {epoch + 1:>5} {batch:>5}  {report.loss:.3f}  {report.grad_norm_ratio:15.2e}  "
                  f"{[f.kind for f in report.findings]}")
    print("\naccuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in accuracy.items()))
    if "bn" in accuracy and "book" in accuracy:
        print(f"ratio accuracy bn/book = {accuracy['bn'] / max(accuracy['book'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
