"""The learning-rate range test and its plot (Géron 11.3, Smith 2015), and a check of its suggestion.

The range test raises the rate exponentially from 1e-5 to 10 over a few hundred SGD steps on
the untrained model and watches the loss; ``lr_find`` reads four rules off the smoothed curve
(steepest descent, a tenth of the minimum, fastai's valley, the end of the fast descent). The
table shows what each rule suggests (geometric mean over seeds and the spread in decades), then
checks the default suggestion the honest way: the same MLP trained a few epochs at a tenth of it,
at it and at ten times it, scored on validation. ``lr_finder.png`` is the first seed's curve.

    topnet recipe run lr-finder --seeds 3
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

import topnet
from topnet.data import Splits
from topnet.nn import create_model
from topnet.recipes.common import data_line, images_of, load_data, resolve_seeds, scaled, subsets, train_model
from topnet.recipes.table import RecipeResult, mean_spread
from topnet.seeding import seed_everything

__all__ = ["run"]

FULL = {"num_train": 10000, "num_valid": 2000, "epochs": 3, "num_steps": 300}
QUICK = {"num_train": 256, "num_valid": 128, "epochs": 1, "num_steps": 50}
MULTIPLIERS = (0.1, 1.0, 10.0)


def run(data: Any = "fashion-mnist", seeds: Any = None, quick: bool = False, out: Any = None,
        device: Any = "auto", batch_size: int = 64) -> RecipeResult:
    """Range-test the MLP once per seed, train at the suggestion and around it; return the table and plot."""
    sizes = QUICK if quick else FULL
    seeds = resolve_seeds(seeds, quick)
    splits = scaled(subsets(load_data(data), sizes["num_train"], sizes["num_valid"], num_test=1))
    splits = Splits(train=splits.train, valid=splits.valid)  # choosing a rate: the test split stays unread
    input_shape, num_classes = images_of(splits)
    build = lambda: create_model("mlp", input_shape=input_shape, num_classes=num_classes,  # noqa: E731
                                 hidden=(300, 100), initializer="auto")
    sgd = lambda params, lr=1e-5: torch.optim.SGD(params, lr=lr, momentum=0.9)  # noqa: E731
    suggestions: dict[str, list[float]] = {}
    checks: dict[float, list[float]] = {m: [] for m in MULTIPLIERS}
    first = None
    for seed in seeds:
        seed_everything(seed)
        model = build()
        finder = topnet.lr_find(model, splits.train, optimizer=sgd(model.parameters()), batch_size=batch_size,
                                start_lr=1e-5, end_lr=10.0, num_steps=sizes["num_steps"], seed=seed, device=device)
        first = first or finder
        for rule, lr in finder.suggestions.items():
            suggestions.setdefault(rule, []).append(lr)
        for multiplier in MULTIPLIERS:  # validation only: this recipe picks a rate, it does not report a model
            trained = train_model(build, splits, seed=seed, epochs=sizes["epochs"], batch_size=batch_size,
                                  optimizer=lambda params: sgd(params, multiplier * finder.suggestion), device=device)
            checks[multiplier].append(trained.history["val_accuracy"][-1])
    result = RecipeResult("lr-finder", "The learning-rate range test: what each rule suggests, and a check",
                          ["row", "learning rate", "spread (decades)", "valid accuracy"])
    for rule, values in suggestions.items():
        logs = [math.log10(v) for v in values]
        label = f"rule: {rule}" + (" (default)" if rule == first.rule else "")
        result.add_row(label, f"{10 ** (sum(logs) / len(logs)):.2g}", f"{max(logs) - min(logs):.2f}", "-")
    for multiplier in MULTIPLIERS:
        result.add_row(f"check: {multiplier:g} × suggestion, {sizes['epochs']} epochs", "-", "-",
                       mean_spread(checks[multiplier]))
    result.describe(seeds, device, data=data_line(splits, data, "x / 255 (the test split is not read)"),
                    model=f"MLP 300-100 ReLU, SGD momentum 0.9, batch {batch_size}; the sweep: 1e-5 to 10 in "
                          f"{sizes['num_steps']} steps")
    result.notes.append(f"first seed: {first.verdict}")
    result.raw = {"suggestions": suggestions, "checks": {str(k): v for k, v in checks.items()}}
    if out is not None:
        path = Path(out) / "lr_finder.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        first.plot(path)
        result.files["plot"] = str(path)
        result.save(out)
    return result
