"""What every recipe does the same way: get the data, cut the subsets, train one model and time it.

The recipes are the books' experiments written on topnet's public API; this module keeps the
three steps they share in one place, so each recipe reads as the experiment itself:

- `load_data`: a dataset name, a folder (IDX files: Fashion-MNIST / MNIST; else CIFAR-10), an
  ``.npz`` file, or a ready `topnet.data.Splits`.
- `subsets`: train / valid subsets of the training data and a fixed test subset. The subsets
  depend only on ``data_seed``, so the seeds of a recipe vary the initialisation and the batch
  order, not the data; the test subset is scored once per trained model.
- `train_model`: seed, fit with a validation set, time each epoch, score on test once.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import topnet
from topnet.data import Dataset, Splits, load
from topnet.errors import format_message
from topnet.seeding import seed_everything

__all__ = ["load_data", "data_line", "subsets", "scaled", "padded", "train_model", "TrainedModel", "resolve_seeds",
           "images_of"]


def load_data(data: Any = "fashion-mnist") -> Splits:
    """The recipe's data as `Splits` with ``train`` and ``test``.

    Args:
        data: a `Splits`; a name for ``topnet.data.load`` (``"fashion-mnist"``, ``"cifar10"``, ...);
            a folder holding IDX files (Fashion-MNIST, MNIST) or CIFAR-10 (binary or Python
            version); or an ``.npz`` file with a predefined test split.

    Raises:
        ValueError: a `Splits` or file without a test split, or an unknown name.
        FileNotFoundError: a path that does not exist, or a folder holding neither dataset.
    """
    if isinstance(data, Splits):
        splits = data
    elif isinstance(data, (str, os.PathLike)) and (Path(data).exists() or os.sep in os.fspath(data)):
        splits = load_path(Path(data))
    elif isinstance(data, str):
        splits = load(data)
    else:
        raise TypeError(format_message("data", data, "a dataset name, a path or a topnet.data.Splits",
                                       "e.g. data='fashion-mnist' or data='/data/cifar-10-batches-py'"))
    if splits.test is None:
        raise ValueError(format_message("data", data, "data with a test split (the recipes score on it once)",
                                        "use a named dataset, or an .npz holding x_test and y_test"))
    return splits


def load_path(path: Path) -> Splits:
    if not path.exists():
        raise FileNotFoundError(format_message("data", os.fspath(path), "an existing folder or .npz file",
                                               "check the path, or pass a name such as 'fashion-mnist'"))
    if path.is_file():
        return load(path)
    if any(path.glob("train-images-idx3-ubyte*")):
        return load("fashion-mnist", path=path, download=False)
    return load("cifar10", path=path, download=False)


def data_line(splits: Splits, data: Any, note: str = "") -> str:
    """One line on the data a table was measured on, e.g. ``"fashion-mnist, 500 train / 100 test images"``."""
    sizes = " / ".join(f"{len(dataset)} {name}" for name, dataset in splits.items())
    return f"{splits.train.name or data}, {sizes} images" + (f", {note}" if note else "")


def subsets(splits: Splits, num_train: int, num_valid: int, num_test: int, data_seed: int = 0) -> Splits:
    """Random train / valid subsets of ``splits.train`` and a random test subset, fixed by ``data_seed``.

    Sizes larger than what is there are cut to what is there (valid comes out of train first).

    Example:
        >>> x, y = np.zeros((20, 2), np.float32), np.arange(20) % 2
        >>> small = subsets(Splits(train=Dataset(x, y), test=Dataset(x, y)), 8, 4, 5)
        >>> len(small.train), len(small.valid), len(small.test)
        (8, 4, 5)
    """
    for name, value in (("num_train", num_train), ("num_valid", num_valid), ("num_test", num_test)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(format_message(name, value, "a positive int"))
    rng = np.random.default_rng(data_seed)
    order = rng.permutation(len(splits.train))
    valid, train = order[:num_valid], order[num_valid:num_valid + num_train]
    test = rng.permutation(len(splits.test))[:num_test]
    return Splits(train=splits.train.take(np.sort(train)), valid=splits.train.take(np.sort(valid)),
                  test=splits.test.take(np.sort(test)))


def scaled(splits: Splits, factor: float = 1 / 255) -> Splits:
    """Every split's images as float32 times ``factor`` (the books' ``x / 255``)."""
    return Splits(**{name: Dataset(np.asarray(d.x, np.float32) * np.float32(factor), d.y, d.class_names, d.name)
                     for name, d in splits.items()})


def padded(splits: Splits, size: int = 32) -> Splits:
    """Images zero-padded (centred) to ``size`` × ``size``; images that large already are unchanged.

    Chollet's convnets use "valid" convolutions sized for CIFAR-10's 32×32 images; Fashion-MNIST's
    28×28 ones are padded with background so the same layer stack fits.
    """
    def pad(x: np.ndarray) -> np.ndarray:  # (N, C, H, W)
        dy, dx = max(size - x.shape[2], 0), max(size - x.shape[3], 0)
        return np.pad(x, ((0, 0), (0, 0), (dy // 2, dy - dy // 2), (dx // 2, dx - dx // 2)))

    return Splits(**{name: Dataset(pad(d.x), d.y, d.class_names, d.name) for name, d in splits.items()})


def images_of(splits: Splits) -> tuple[tuple[int, ...], int]:
    """``(input_shape, num_classes)`` of image splits, e.g. ``((1, 28, 28), 10)``."""
    x = splits.train.x
    if isinstance(x, dict) or x.ndim != 4:
        raise ValueError(format_message("data", f"inputs of shape {getattr(x, 'shape', 'dict')}",
                                        "images (N, channels, height, width)",
                                        "use Fashion-MNIST, MNIST, CIFAR-10 or an .npz of images"))
    labels = [int(np.max(d.y)) + 1 for _, d in splits.items()]
    num_classes = max(splits.train.num_classes or 0, *labels)
    return tuple(x.shape[1:]), num_classes


def resolve_seeds(seeds: Any, quick: bool, full_default: int = 3) -> list[int]:
    """Seeds ``0 .. N-1``: ``N = seeds`` when given, else 1 with ``quick`` and ``full_default`` without.

    A list of ints is taken as the seeds themselves.

    Example:
        >>> resolve_seeds(None, quick=True), resolve_seeds(3, quick=True), resolve_seeds([7, 9], quick=False)
        ([0], [0, 1, 2], [7, 9])
    """
    if seeds is None:
        return list(range(1 if quick else full_default))
    if isinstance(seeds, (list, tuple)) and seeds and all(isinstance(s, int) for s in seeds):
        return list(seeds)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(format_message("seeds", seeds, "a positive number of seeds or a list of ints",
                                        "e.g. seeds=3 (--seeds 3)"))
    return list(range(seeds))


@dataclass
class TrainedModel:
    """One trained model and what was measured on it.

    Attributes:
        model: the trained module (best weights when early stopping restored them).
        history: ``fit``'s History logs, ``{name: [value per epoch]}``.
        seconds_per_epoch: wall time of fit divided by the epochs run (validation included).
        epochs_run: epochs trained.
        best_epoch: 1-based epoch of the lowest ``val_loss``.
        test: ``evaluate``'s logs on the test split (scored once); empty when there is none.
    """

    model: torch.nn.Module
    history: dict[str, list[float]]
    seconds_per_epoch: float
    epochs_run: int
    best_epoch: int
    test: dict[str, float] = field(default_factory=dict)


def train_model(build: Any, splits: Splits, *, seed: int, epochs: int, batch_size: int = 128,
                optimizer: Any = "adam", lr: float | None = None, callbacks: Any = None,
                device: Any = "auto", **fit_kwargs: Any) -> TrainedModel:
    """Seed, build, fit on ``splits.train`` (validating on ``splits.valid``), time, score on test once.

    A split that is None is skipped: no validation, or no test score.

    Args:
        build: ``() -> nn.Module``, called after seeding, so initial weights follow ``seed``.
        splits: with ``train``, ``valid`` and ``test``.
        seed: seeds torch's global generator (initialisation, dropout) and fit's batch order.
        optimizer: a name, class, or ``params -> torch.optim.Optimizer`` built on the new model's
            parameters (a callable that is not an optimizer class).
        **fit_kwargs: passed to ``topnet.fit`` (``metrics`` defaults to accuracy).
    """
    seed_everything(seed)
    model = build()
    if callable(optimizer) and not isinstance(optimizer, type):
        optimizer = optimizer(model.parameters())
    metrics = fit_kwargs.pop("metrics", ["accuracy"])
    start = time.perf_counter()
    history = topnet.fit(model, splits.train, validation_data=splits.valid, epochs=epochs, batch_size=batch_size,
                         optimizer=optimizer, lr=lr, metrics=metrics, callbacks=callbacks, seed=seed, device=device,
                         verbose=0, **fit_kwargs).history
    seconds = time.perf_counter() - start
    epochs_run = len(history["loss"])
    best_epoch = int(np.argmin(history["val_loss"])) + 1 if "val_loss" in history else epochs_run
    test = {} if splits.test is None else topnet.evaluate(
        model, splits.test, metrics=metrics, loss=fit_kwargs.get("loss", "cross_entropy"), device=device)
    return TrainedModel(model, history, seconds / max(epochs_run, 1), epochs_run, best_epoch, test)
