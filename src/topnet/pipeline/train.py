"""``topnet train``: load, split, standardise, build, fit, evaluate, and write a run directory."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

import math

from topnet.callbacks import BackupAndRestore, CSVLogger, EarlyStopping, LearningRateScheduler
from topnet.data import Splits, load, split, standardize
from topnet.data.registry import image_options
from topnet.data.tabular import flatten_tabular
from topnet.errors import format_message
from topnet.io import save_model
from topnet.nn import create_model
from topnet.report.run_dir import RunDir, environment
from topnet.train import evaluate, fit
from topnet.tune.data import model_arguments, task_of
from topnet.train.optimizers import get_optimizer
from topnet.train.schedules import cosine_decay

__all__ = ["TrainConfig", "train_run"]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one ``topnet train`` run (each is a ``topnet train`` option).

    Attributes:
        data: a dataset name (``fashion-mnist``, ``cifar10``, ``mnist1d``...) or a .npz/.csv path.
        out: the run directory.
        data_path: where the named dataset's files are, when not in the usual places.
        target: the target column of a table (CSV, Parquet).
        image_size / image_fit / skip_bad: how a folder of images is read (as in ``topnet run``).
        model: a registered model builder (``topnet.nn.list_models()``); ``auto`` picks
            ``small_convnet`` for images (channels, height, width) and ``mlp`` otherwise.
        epochs / batch_size / optimizer / lr: as in ``topnet.fit``.
        valid / test: fractions held out; ``test`` only applies when the dataset has no test split.
        schedule: ``cosine`` (decay to 0 over all epochs, per step) or ``constant``.
        patience: stop after this many epochs without a better ``val_loss`` and keep the best
            weights (None: train all epochs).
        seed: seeds the split, the shuffle and the model's initial weights.
        device: ``auto``, ``cpu`` or ``cuda``.
        overwrite: replace a finished run in ``out``.
    """

    data: str = "fashion-mnist"
    out: str = "runs/train"
    data_path: str | None = None
    target: str | None = None
    image_size: int | tuple[int, int] | None = None
    image_fit: str = "pad"
    skip_bad: bool = False
    model: str = "auto"
    epochs: int = 3
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float | None = None
    schedule: str = "cosine"
    valid: float = 0.1
    test: float = 0.1
    patience: int | None = None
    seed: int = 0
    device: str = "auto"
    verbose: int = 1
    overwrite: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(format_message(name, value, "a positive int"))
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(format_message("schedule", self.schedule, "'cosine' or 'constant'"))
        if self.patience is not None and self.patience < 0:
            raise ValueError(format_message("patience", self.patience, "a non-negative int or None"))


def _prepare(config: TrainConfig) -> tuple[Splits, dict[str, Any]]:
    splits = load(config.data, path=config.data_path, target=config.target,
                  **image_options(config.image_size, config.image_fit, config.skip_bad))
    splits = split(splits, valid=config.valid, blend=0.0, test=config.test, seed=config.seed)
    splits, standardizers = standardize(splits)
    if config.model != "wide_and_deep":  # it embeds the categorical codes itself
        splits = flatten_tabular(splits)
    return splits, {key: s.state_dict() for key, s in standardizers.items()}


def train_run(config: TrainConfig) -> dict[str, dict[str, float]]:
    """Run ``topnet train``: the model's final metrics per split, also in ``out/metrics.json``.

    A run killed part-way resumes from its last epoch when started again with the same ``out``.

    Example (not run by the doctests: it trains on Fashion-MNIST):
        metrics = train_run(TrainConfig(data="fashion-mnist", epochs=3, out="runs/fm"))
        metrics["test"]["accuracy"]
    """
    import torch

    run = RunDir(config.out, overwrite=config.overwrite)
    splits, standardizers = _prepare(config)
    task, width, loss, metrics = task_of(splits.train)
    is_image = not isinstance(splits.train.x, dict) and np.ndim(splits.train.x) == 4
    name = config.model if config.model != "auto" else ("small_convnet" if is_image else "mlp")
    arguments = model_arguments(name, splits.train, width)
    torch.manual_seed(config.seed)  # the model's initial weights (the CLI is allowed global seeding)
    model = create_model(name, **arguments)
    resolved = {**dataclasses.asdict(config), "model": name, "task": task, "loss": loss, "metrics": metrics,
                "model_arguments": arguments, "input_shape": arguments.get("input_shape"),
                "class_names": splits.train.class_names,
                "splits": {name: len(data) for name, data in splits.items()}}
    run.write_json("config.json", resolved)
    run.write_json("environment.json", environment(config.seed))
    run.write_json("standardizer.json", standardizers)
    callbacks = [BackupAndRestore(run / "backup"), CSVLogger(run / "history.csv", append=True)]
    if config.patience is not None:
        callbacks.append(EarlyStopping(patience=config.patience, restore_best_weights=True))
    optimizer = get_optimizer(config.optimizer, model.parameters(), lr=config.lr)
    if config.schedule == "cosine":
        steps = config.epochs * math.ceil(len(splits.train) / config.batch_size)
        callbacks.append(LearningRateScheduler(cosine_decay(optimizer.param_groups[0]["lr"], steps), per="step"))
    fit(model, splits.train, validation_data=splits.valid, epochs=config.epochs, batch_size=config.batch_size,
        loss=loss, metrics=metrics, optimizer=optimizer, seed=config.seed,
        device=config.device, callbacks=callbacks, verbose=config.verbose)
    results = {name: evaluate(model, data, loss=loss, metrics=metrics, device=config.device)
               for name, data in splits.items()}
    save_model(model, run / "model", metadata={"class_names": splits.train.class_names, "task": task})
    run.write_json("metrics.json", results)
    return results
