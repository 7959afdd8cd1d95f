"""A deep net of 20 dense layers, made to train (Géron ch. 11, exercise 8).

(a, b) 20 hidden layers of 100 ELU units with He initialisation, Nadam and early stopping;
(c) the same with BatchNorm on the inputs and after every hidden layer; (d) SELU with LeCun
initialisation on standardised inputs (self-normalising, no BN); (e) SELU plus alpha dropout,
scored once as is and once with MC dropout (the mean of 30 stochastic passes, no retraining).
For each: epochs to the best validation loss, seconds per epoch, test accuracy, mean ± sd over
seeds. One learning rate for all (Nadam 5e-4, Géron's for b–e) so the architectures compare;
early stopping restores the best weights. Fashion-MNIST by default (Géron uses CIFAR-10:
pass its folder).

    topnet recipe run deep-dnn --seeds 3
"""
from __future__ import annotations

from typing import Any

import numpy as np

from topnet.callbacks import EarlyStopping
from topnet.data import standardize
from topnet.nn import create_model
from topnet.recipes.common import data_line, images_of, load_data, resolve_seeds, scaled, subsets, train_model
from topnet.recipes.table import RecipeResult, mean_spread
from topnet.uncertainty import mc_predict

__all__ = ["run", "VARIANTS"]

#: label -> (registered builder, its arguments, standardise the inputs?)
VARIANTS = {
    "ELU + He (a, b)": ("geron_deep_elu", {"initializer": "he_normal"}, False),
    "ELU + He + BN (c)": ("geron_deep_elu", {"initializer": "he_normal", "batch_norm": True}, False),
    "SELU + LeCun, standardised (d)": ("geron_deep_selu", {}, True),
    "SELU + alpha dropout 0.1 (e)": ("geron_deep_selu", {"dropout": 0.1}, True),
}
FULL = {"num_train": 10000, "num_valid": 2000, "num_test": 10000, "epochs": 20, "patience": 4, "mc_samples": 30}
QUICK = {"num_train": 256, "num_valid": 128, "num_test": 256, "epochs": 2, "patience": 1, "mc_samples": 3}
LR = 5e-4
MC_ROW = "  + MC dropout, {} samples (e)"


def run(data: Any = "fashion-mnist", seeds: Any = None, quick: bool = False, out: Any = None,
        device: Any = "auto", batch_size: int = 64) -> RecipeResult:
    """Train the four variants per seed (plus MC dropout on the last) and return the table."""
    sizes = QUICK if quick else FULL
    seeds = resolve_seeds(seeds, quick)
    unit = scaled(subsets(load_data(data), sizes["num_train"], sizes["num_valid"], sizes["num_test"]))  # x / 255
    standardised, _ = standardize(unit)  # statistics from train only
    input_shape, num_classes = images_of(unit)
    rows: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        for name, (builder, kwargs, standardise) in VARIANTS.items():
            splits = standardised if standardise else unit
            stop = EarlyStopping(patience=sizes["patience"], restore_best_weights=True)
            trained = train_model(lambda: create_model(builder, input_shape=input_shape, num_classes=num_classes,
                                                       **kwargs),
                                  splits, seed=seed, epochs=sizes["epochs"], batch_size=batch_size,
                                  optimizer="nadam", lr=LR, callbacks=[stop], device=device)
            record(rows, name, trained.best_epoch, trained.seconds_per_epoch, trained.test["accuracy"])
            if kwargs.get("dropout"):
                mc = mc_predict(trained.model, splits.test.x, num_samples=sizes["mc_samples"], seed=seed,
                                device=device)
                accuracy = float(np.mean(mc.mean.argmax(dim=1).numpy() == np.asarray(splits.test.y)))
                record(rows, MC_ROW.format(sizes["mc_samples"]), trained.best_epoch,
                        trained.seconds_per_epoch, accuracy)

    result = RecipeResult("deep-dnn", "Géron ch. 11 exercise 8: 20 hidden layers of 100 units, Nadam, early stopping",
                          ["variant", "epochs to best", "s / epoch", "test accuracy"])
    for name, values in rows.items():
        result.add_row(name, mean_spread(values["best"], 1), mean_spread(values["sec"], 2),
                       mean_spread(values["test"]))
    result.describe(seeds, device, data=data_line(unit, data, "x / 255 (ELU), standardised (SELU)"),
                    training=f"Nadam lr {LR:g}, batch {batch_size}, at most {sizes['epochs']} epochs, early stopping "
                             f"on val_loss (patience {sizes['patience']}, best weights restored)")
    with_dropout = next(name for name, (_, kwargs, _) in VARIANTS.items() if kwargs.get("dropout"))
    plain, mc = rows[with_dropout]["test"], rows[MC_ROW.format(sizes["mc_samples"])]["test"]
    result.notes.append("the MC dropout row reuses the alpha-dropout model of the row above (no retraining); MC "
                        f"minus plain test accuracy, paired by seed: {mean_spread([m - p for m, p in zip(mc, plain)], 4)}")
    result.raw = rows
    if out is not None:
        result.save(out)
    return result


def record(rows: dict[str, dict[str, list[float]]], name: str, best: int, seconds: float, test: float) -> None:
    values = rows.setdefault(name, {"best": [], "sec": [], "test": []})
    values["best"].append(best)
    values["sec"].append(seconds)
    values["test"].append(test)
