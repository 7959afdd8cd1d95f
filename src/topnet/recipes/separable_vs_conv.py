"""Separable vs regular convnets and their average (Chollet 7.3.1 and 7.3.3).

The notes' CIFAR-10 experiment: Chollet's lightweight depthwise-separable convnet (RMSprop),
the simple convnet (two convs, max pool, dropout, dense 128) with RMSprop, the same with
Adadelta, and the average of the three models' probabilities (7.3.3). For each: parameters,
seconds per epoch, validation and test accuracy, mean ± sd over seeds. Fashion-MNIST by
default, zero-padded to 32×32 (the layer stacks use "valid" convs sized for CIFAR-10);
CIFAR-10 when ``data`` names it or its folder. Pixels are scaled by 1/255, as in the notes.

    topnet recipe run separable-vs-conv --seeds 3
    topnet recipe run separable-vs-conv --data ~/data/cifar-10-batches-py
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

import topnet
from topnet.ensemble import UniformAverage
from topnet.nn import count_params, create_model
from topnet.recipes.common import data_line, images_of, load_data, padded, resolve_seeds, scaled, subsets, train_model
from topnet.recipes.table import RecipeResult, mean_spread

__all__ = ["run", "MODELS"]

#: label -> (registered builder, optimizer name), as in the notes.
MODELS = {
    "separable convnet, RMSprop": ("chollet_separable_cnn", "rmsprop"),
    "simple convnet, RMSprop": ("chollet_simple_cnn", "rmsprop"),
    "simple convnet, Adadelta": ("chollet_simple_cnn", "adadelta"),
}
FULL = {"num_train": 5000, "num_valid": 1000, "num_test": 5000, "epochs": 4}
QUICK = {"num_train": 256, "num_valid": 128, "num_test": 256, "epochs": 1}


def run(data: Any = "fashion-mnist", seeds: Any = None, quick: bool = False, out: Any = None,
        device: Any = "auto", batch_size: int = 64) -> RecipeResult:
    """Train the three convnets per seed, average them, and return the table (saved in ``out``)."""
    sizes = QUICK if quick else FULL
    seeds = resolve_seeds(seeds, quick)
    splits = subsets(load_data(data), sizes["num_train"], sizes["num_valid"], sizes["num_test"])
    splits = padded(scaled(splits))  # x / 255, then 28×28 → 32×32 (CIFAR-10 is already 32×32)
    input_shape, num_classes = images_of(splits)
    y_test = np.asarray(splits.test.y)
    scores: dict[str, dict[str, list[float]]] = {name: {"val": [], "test": [], "sec": []} for name in MODELS}
    ensemble_accuracy = []
    for seed in seeds:
        probabilities = []
        for name, (builder, optimizer) in MODELS.items():
            trained = train_model(lambda: create_model(builder, input_shape=input_shape, num_classes=num_classes),
                                  splits, seed=seed, epochs=sizes["epochs"], batch_size=batch_size,
                                  optimizer=optimizer, device=device)
            scores[name]["val"].append(trained.history["val_accuracy"][-1])
            scores[name]["test"].append(trained.test["accuracy"])
            scores[name]["sec"].append(trained.seconds_per_epoch)
            logits = topnet.predict(trained.model, splits.test.x, device=device)
            probabilities.append(torch.softmax(logits, dim=1).numpy())
        average = UniformAverage().fit(probabilities, y_test).combine(probabilities)  # 1/3 (p1 + p2 + p3)
        ensemble_accuracy.append(float(np.mean(average.argmax(axis=1) == y_test)))

    result = RecipeResult("separable-vs-conv", "Chollet 7.3.1: separable vs simple convnets and their average",
                          ["model", "parameters", "s / epoch", "valid accuracy", "test accuracy"])
    total_params = 0
    for name, (builder, _) in MODELS.items():
        params = count_params(create_model(builder, input_shape=input_shape, num_classes=num_classes))[0]
        total_params += params
        result.add_row(name, f"{params:,}", mean_spread(scores[name]["sec"], 1), mean_spread(scores[name]["val"]),
                       mean_spread(scores[name]["test"]))
    result.add_row("average of the three", f"{total_params:,}", "-", "-", mean_spread(ensemble_accuracy))
    result.describe(seeds, device, data=data_line(splits, data, f"x / 255, input {input_shape}"),
                    training=f"{sizes['epochs']} epochs, batch {batch_size}, no early stopping")
    best_single = max(float(np.mean(s["test"])) for s in scores.values())
    result.notes.append(f"average minus best single model: {np.mean(ensemble_accuracy) - best_single:+.3f} "
                        "test accuracy (means over seeds)")
    weak = [name for name, s in scores.items() if np.mean(s["test"]) < 1.5 / num_classes]
    if weak:
        result.notes.append(f"near chance: {', '.join(weak)}; a member at chance drags the average down")
    result.raw = {"scores": scores, "ensemble_accuracy": ensemble_accuracy}
    if out is not None:
        result.save(out)
    return result
