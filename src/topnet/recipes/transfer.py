"""Transfer learning: sandal vs shirt from 200 images, from scratch or on model A (Géron 11.2).

Model A (Dense 300-100-50-50-50, SELU, LeCun init) learns the 8 Fashion-MNIST classes other
than sandal and shirt. Model B learns sandal vs shirt from only 200 images: once from scratch
(SGD lr 1e-3, 20 epochs), once built on A's layers with a new output layer, trained 4 epochs with
the reused layers frozen, then 16 epochs with them unfrozen at lr 1e-4, as in the book. Each seed
draws another 200 images and another initialisation; A is trained once. The table gives test
error rates over all seeds, so the reader sees whether transfer helps here: Géron reports the
error falling from 2.8% to 0.7% and admits he tried many configurations until one showed it.

    topnet recipe run transfer --seeds 10
"""
from __future__ import annotations

from typing import Any

import numpy as np

from topnet.data import Dataset, Splits
from topnet.errors import format_message
from topnet.nn import create_model, freeze, replace_head, unfreeze
from topnet.recipes.common import load_data, resolve_seeds, scaled, train_model
from topnet.recipes.table import RecipeResult, mean_spread

__all__ = ["run", "SANDAL", "SHIRT"]

SANDAL, SHIRT = 5, 6
HIDDEN = (300, 100, 50, 50, 50)
FULL = {"num_a": 20000, "a_epochs": 5, "num_b": 200, "num_test": 2000, "b_epochs": (20, 4, 16)}
QUICK = {"num_a": 512, "a_epochs": 1, "num_b": 200, "num_test": 256, "b_epochs": (2, 1, 1)}


def task_a(dataset: Dataset, limit: int, seed: int = 0) -> Dataset:
    """The images of the 8 other classes, labels renumbered 0..7 (sandal and shirt taken out)."""
    rows = np.flatnonzero((dataset.y != SANDAL) & (dataset.y != SHIRT))
    rows = np.sort(np.random.default_rng(seed).permutation(rows)[:limit])
    labels = np.array([0, 1, 2, 3, 4, -1, -1, 5, 6, 7])[dataset.y[rows]]  # 7, 8, 9 -> 5, 6, 7
    return Dataset(dataset.x[rows], labels, name="task A")


def task_b(dataset: Dataset, limit: int, seed: int = 0) -> Dataset:
    """``limit`` random sandal and shirt images, labelled 1 for shirt (Géron's positive class)."""
    rows = np.flatnonzero((dataset.y == SANDAL) | (dataset.y == SHIRT))
    rows = np.sort(np.random.default_rng(seed).permutation(rows)[:limit])
    return Dataset(dataset.x[rows], (dataset.y[rows] == SHIRT).astype(np.int64), name="task B")


def run(data: Any = "fashion-mnist", seeds: Any = None, quick: bool = False, out: Any = None,
        device: Any = "auto", batch_size: int = 32) -> RecipeResult:
    """Train A once, then B from scratch and B on A for every seed; return the error-rate table."""
    sizes = QUICK if quick else FULL
    seeds = resolve_seeds(seeds, quick, full_default=10)
    data = scaled(load_data(data))  # x / 255, as in the book
    names = data.train.class_names or ()
    if len(names) != 10 or names[SANDAL] != "Sandal" or names[SHIRT] != "Shirt":
        raise ValueError(format_message("data", f"classes {list(names)}", "Fashion-MNIST's 10 classes "
                                        "(class 5 sandal, 6 shirt)", "run it with --data fashion-mnist"))
    shape = tuple(data.train.x.shape[1:])
    a = Splits(train=task_a(data.train, sizes["num_a"]), test=task_a(data.test, sizes["num_test"]))
    model_a = train_model(lambda: mlp(shape, 8), a, seed=0, epochs=sizes["a_epochs"], batch_size=batch_size, device=device)
    b_test = task_b(data.test, sizes["num_test"])
    scratch_epochs, frozen_epochs, unfrozen_epochs = sizes["b_epochs"]
    errors: dict[str, list[float]] = {"scratch": [], "frozen": [], "unfrozen": []}
    for seed in seeds:
        b = Splits(train=task_b(data.train, sizes["num_b"], seed=seed + 1), test=b_test)
        scratch = train_model(lambda: mlp(shape, 2), b, seed=seed, epochs=scratch_epochs, batch_size=batch_size,
                              optimizer="sgd", lr=1e-3, device=device)
        errors["scratch"].append(1 - scratch.test["accuracy"])

        def on_a():  # A's layers (a copy) under a new 2-class output layer, all but the output frozen
            model = replace_head(model_a.model, num_classes=2)
            return freeze(model, up_to=len(model) - 1)

        frozen = train_model(on_a, b, seed=seed, epochs=frozen_epochs, batch_size=batch_size, optimizer="sgd",
                             lr=1e-3, device=device)
        errors["frozen"].append(1 - frozen.test["accuracy"])
        unfrozen = train_model(lambda: unfreeze(frozen.model), b, seed=seed, epochs=unfrozen_epochs,
                               batch_size=batch_size, optimizer="sgd", lr=1e-4, device=device)
        errors["unfrozen"].append(1 - unfrozen.test["accuracy"])
    return table(errors, model_a, sizes, seeds, len(b_test), device, out)


def mlp(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Géron's model A / B layout: 5 dense SELU layers with LeCun init, then the output layer."""
    return create_model("mlp", input_shape=input_shape, num_classes=num_classes, hidden=HIDDEN,
                        activation="selu", initializer="auto")


def table(errors: dict[str, list[float]], model_a: Any, sizes: dict, seeds: list[int], num_test: int,
          device: Any, out: Any) -> RecipeResult:
    """The error-rate table and what it shows."""
    scratch_epochs, frozen_epochs, unfrozen_epochs = sizes["b_epochs"]
    result = RecipeResult("transfer", "Géron 11.2: sandal vs shirt from 200 images, test error rate (%)",
                          ["model B", "training", "test error %", "min - max %"])
    rows = [("from scratch", f"{scratch_epochs} epochs, SGD lr 1e-3", errors["scratch"]),
            ("on A, reused layers frozen", f"{frozen_epochs} epochs, SGD lr 1e-3", errors["frozen"]),
            ("on A, then unfrozen", f"+ {unfrozen_epochs} epochs, SGD lr 1e-4", errors["unfrozen"])]
    for name, training, values in rows:
        result.add_row(name, training, mean_spread(values, 2, scale=100),
                       f"{100 * min(values):.2f} - {100 * max(values):.2f}")
    scratch, transfer = np.array(errors["scratch"]), np.array(errors["unfrozen"])
    ratios = scratch / np.maximum(transfer, 0.5 / num_test)  # an error of 0 counts as half a mistake
    result.notes.append(f"transfer (frozen then unfrozen) has the lower test error in {int(np.sum(transfer < scratch))} "
                        f"of {len(seeds)} seeds; error ratio scratch / transfer: median {np.median(ratios):.2f}, "
                        f"best seed {np.max(ratios):.2f}, worst seed {np.min(ratios):.2f}")
    result.notes.append(f"model A: {model_a.test['accuracy']:.3f} test accuracy on its 8 classes "
                        f"({sizes['a_epochs']} epochs, Adam, trained once with seed 0)")
    result.describe(seeds, device, data=f"task A: {sizes['num_a']} train images of 8 classes; task B: {sizes['num_b']} "
                                        f"train images (a new draw per seed), {num_test} test images of sandal and shirt")
    result.raw = {"errors": errors, "model_a_test_accuracy": model_a.test["accuracy"]}
    if out is not None:
        result.save(out)
    return result
