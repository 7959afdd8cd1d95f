"""Learning-rate schedules on one model: constant, power, exponential, piecewise, performance, 1cycle (Géron 11.3).

One MLP (Dense 300-100, ReLU, He init) on a Fashion-MNIST subset, trained with SGD (momentum
0.9) for the same number of epochs under each schedule. The base rate ``lr0`` comes from a
learning-rate range test on the untrained model (its default, "valley", rule); 1cycle peaks at
the range test's "descent_end" rate, the top of the fast-learning stretch, as Smith advises.
Power, exponential and piecewise schedules are pure ``step -> lr`` functions (set every step);
performance scheduling is ``ReduceLROnPlateau(factor=0.5, patience=1)`` on ``val_loss``. The
table gives validation and test accuracy (mean ± sd over seeds); ``schedules.png`` draws each
schedule's rate per step and its validation accuracy per epoch.

    topnet recipe run schedules --seeds 3
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import topnet
from topnet.callbacks import Callback, LearningRateLog, LearningRateScheduler, ReduceLROnPlateau
from topnet.errors import unknown_name
from topnet.nn import create_model
from topnet.recipes.common import data_line, images_of, load_data, resolve_seeds, scaled, subsets, train_model
from topnet.recipes.table import RecipeResult, mean_spread
from topnet.seeding import seed_everything
from topnet.train import exponential_decay, one_cycle, piecewise_constant, power_decay

__all__ = ["run", "LearningRateLog", "schedule_callbacks"]

FULL = {"num_train": 10000, "num_valid": 2000, "num_test": 10000, "epochs": 10}
QUICK = {"num_train": 256, "num_valid": 128, "num_test": 256, "epochs": 2}


def schedule_callbacks(name: str, lr0: float, max_lr: float, total_steps: int) -> list[Callback]:
    """The callbacks that make schedule ``name`` for a run of ``total_steps`` optimizer steps.

    Rates as Géron's examples, scaled to the run: power decay halves the rate after a tenth of
    the run; exponential decay divides it by 10 over the run; piecewise keeps ``lr0`` for the
    first half, ``lr0 / 2`` until 80 % and ``lr0 / 10`` after.
    """
    per_step = {
        "constant": lambda step: lr0,
        "power": power_decay(lr0, s=total_steps / 10),
        "exponential": exponential_decay(lr0, s=total_steps),
        "piecewise": piecewise_constant([total_steps // 2, int(total_steps * 0.8)], [lr0, lr0 / 2, lr0 / 10]),
    }
    if name in per_step:
        return [LearningRateScheduler(per_step[name], per="step")]
    if name == "performance":
        return [ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)]
    if name == "1cycle":
        cycle = one_cycle(max_lr, total_steps)
        return [LearningRateScheduler(cycle, per="step", momentum_schedule=cycle.momentum)]
    raise unknown_name("schedule", name, [*per_step, "performance", "1cycle"])


SCHEDULES = ("constant", "power", "exponential", "piecewise", "performance", "1cycle")


def run(data: Any = "fashion-mnist", seeds: Any = None, quick: bool = False, out: Any = None,
        device: Any = "auto", batch_size: int = 64) -> RecipeResult:
    """Range-test once, then train the MLP under each schedule per seed; return the table (and the plot)."""
    sizes = QUICK if quick else FULL
    seeds = resolve_seeds(seeds, quick)
    splits = scaled(subsets(load_data(data), sizes["num_train"], sizes["num_valid"], sizes["num_test"]))
    input_shape, num_classes = images_of(splits)
    build = lambda: create_model("mlp", input_shape=input_shape, num_classes=num_classes,  # noqa: E731
                                 hidden=(300, 100), initializer="auto")
    sgd = lambda params, lr=1e-5: torch.optim.SGD(params, lr=lr, momentum=0.9)  # noqa: E731
    seed_everything(seeds[0])
    model = build()
    finder = topnet.lr_find(model, splits.train, optimizer=sgd(model.parameters()), batch_size=batch_size,
                            start_lr=1e-5, end_lr=10.0, num_steps=100 if quick else 200, device=device)
    lr0, max_lr = finder.suggestion, finder.suggestions["descent_end"]
    total_steps = sizes["epochs"] * -(-len(splits.train) // batch_size)
    scores = {name: {"val": [], "test": []} for name in SCHEDULES}
    curves = {}
    for seed in seeds:
        for name in SCHEDULES:
            log = LearningRateLog()
            trained = train_model(build, splits, seed=seed, epochs=sizes["epochs"], batch_size=batch_size,
                                  optimizer=lambda params: sgd(params, lr0), device=device,
                                  callbacks=[*schedule_callbacks(name, lr0, max_lr, total_steps), log])
            scores[name]["val"].append(trained.history["val_accuracy"][-1])
            scores[name]["test"].append(trained.test["accuracy"])
            curves.setdefault(name, (log.rates, trained.history["val_accuracy"]))  # the first seed's
    result = RecipeResult("schedules", "Géron 11.3: learning-rate schedules on one MLP, SGD with momentum 0.9",
                          ["schedule", "final lr", "valid accuracy", "test accuracy"])
    for name in SCHEDULES:
        result.add_row(name, f"{curves[name][0][-1]:.2g}", mean_spread(scores[name]["val"]),
                       mean_spread(scores[name]["test"]))
    result.describe(seeds, device, data=data_line(splits, data, "x / 255"),
                    training=f"MLP 300-100 ReLU, {sizes['epochs']} epochs, batch {batch_size} ({total_steps} steps), "
                             f"lr0 {lr0:.2g} (range test), 1cycle max_lr {max_lr:.2g}")
    result.notes.append(f"range test: {finder.verdict}")
    result.raw = {"scores": scores, "lr0": lr0, "max_lr": max_lr}
    if out is not None:
        result.files["curves"] = str(plot(curves, Path(out) / "schedules.png"))
        result.save(out)
    return result


def plot(curves: dict[str, tuple[list[float], list[float]]], path: Path) -> Path:
    """Each schedule's rate per step (left, log scale) and validation accuracy per epoch (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (rates, accuracy) = plt.subplots(1, 2, figsize=(11, 4))
    for name, (steps, val_accuracy) in curves.items():
        rates.plot(steps, label=name)
        accuracy.plot(range(1, len(val_accuracy) + 1), val_accuracy, marker="o", label=name)
    rates.set(yscale="log", xlabel="optimizer step", ylabel="learning rate", title="schedules (first seed)")
    accuracy.set(xlabel="epoch", ylabel="validation accuracy", title="validation accuracy (first seed)")
    rates.legend(fontsize=8)
    accuracy.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
