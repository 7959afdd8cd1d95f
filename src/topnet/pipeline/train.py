"""``topnet train``: load, split, standardise, build, fit, evaluate, and write a run directory."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


from topnet.callbacks import CSVLogger
from topnet.configs import (DataSpec, FitSettings, TrialData, data_kind, load_split_standardize, model_arguments,
                            text_only, train_config)
from topnet.configs.data_spec import TEXT_FAMILIES, has_text_input
from topnet.data.tabular import flatten_tabular
from topnet.errors import format_message, unknown_name
from topnet.io import remove_tree, save_model
from topnet.nn import list_models
from topnet.report.run_dir import RunDir, environment
from topnet.train import evaluate

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
            ``small_convnet`` for images (channels, height, width), ``text_cnn`` for text,
            ``wide_and_deep`` for a table with text beside other columns and ``mlp`` otherwise.
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


def _data_spec(config: TrainConfig) -> DataSpec:
    """The splits of ``topnet train``: train / valid / test (no blend), as every other command cuts them."""
    return DataSpec(config.data, data_path=config.data_path, target=config.target, valid=config.valid, blend=0.0,
                    test=config.test, seed=config.seed, image_size=config.image_size, image_fit=config.image_fit,
                    skip_bad=config.skip_bad)


def _configuration(config: TrainConfig, train: Any) -> dict[str, Any]:
    """The run's model and training as a configuration (`topnet.configs.builders`); ``train``
    (the training split) picks the model for ``auto``."""
    kind = data_kind(train)
    automatic = {"images": "small_convnet", "text": "text_cnn",
                 "tabular": "wide_and_deep" if kind == "tabular" and has_text_input(train) else "mlp"}  # mlp: no text
    family = config.model if config.model != "auto" else automatic.get(kind, "mlp")
    if family not in list_models():
        raise unknown_name("model", family, list_models())
    configuration = {"family": family, "optimizer": config.optimizer, "schedule": config.schedule,
                     "batch_size": config.batch_size}
    return configuration if config.lr is None else {**configuration, "lr": config.lr}


def train_run(config: TrainConfig) -> dict[str, dict[str, float]]:
    """Run ``topnet train``: the model's final metrics per split, also in ``out/metrics.json``.

    The model trains through `topnet.configs.train_config`, the path every search trial and
    every model of ``topnet run`` takes. A run killed part-way resumes from its last epoch when
    started again with the same ``out``.

    Example (not run by the doctests: it trains on Fashion-MNIST):
        metrics = train_run(TrainConfig(data="fashion-mnist", epochs=3, out="runs/fm"))
        metrics["test"]["accuracy"]
    """
    run = RunDir(config.out, overwrite=config.overwrite)
    splits, standardizers, _ = load_split_standardize(_data_spec(config))
    configuration = _configuration(config, splits.train)
    family = configuration["family"]
    if isinstance(splits.train.x, dict) and family in TEXT_FAMILIES:  # a table's text column alone
        splits = text_only(splits)
    elif isinstance(splits.train.x, dict) and family != "wide_and_deep":  # one-hot once, test included
        splits = flatten_tabular(splits)
    data = TrialData(dataclasses.replace(splits, test=None))
    arguments = model_arguments(family, data.splits.train, data.width)
    every = dict(splits.items())
    resolved = {**dataclasses.asdict(config), "model": family, "task": data.task, "loss": data.loss,
                "metrics": data.metrics, "model_arguments": arguments, "input_shape": arguments.get("input_shape"),
                "class_names": splits.train.class_names, "splits": {name: len(part) for name, part in every.items()}}
    run.write_json("config.json", resolved)
    run.write_json("environment.json", environment(config.seed))
    run.write_json("standardizer.json", {key: s.state_dict() for key, s in standardizers.items()})
    text = splits.train.meta.get("text", {})
    if text:  # the vocabularies fitted on train
        run.write_json("text_vectorizer.json", {key: entry["state"] for key, entry in text.items()})
    settings = FitSettings(epochs=config.epochs, metric="val_loss", patience=config.patience, seed=config.seed,
                           device=config.device, restore_best_weights=config.patience is not None)
    outcome = train_config(configuration, data, settings, seed=config.seed, backup_dir=run / "backup",
                           callbacks=[CSVLogger(run / "history.csv", append=True)], verbose=config.verbose)
    model = outcome.model
    results = {name: evaluate(model, part, loss=data.loss, metrics=data.metrics, device=config.device)
               for name, part in every.items()}
    save_model(model, run / "model", metadata={"class_names": splits.train.class_names, "task": data.task})
    run.write_json("metrics.json", results)
    remove_tree(run / "backup")
    return results
