"""`train_config`: train the model of one configuration on train, score it on valid.

The one path from a configuration (a plain dict, `topnet.configs.builders`) to a trained model:
``topnet train``, every trial of a search (`topnet.tune`) and every model ``topnet run``
retrains go through it. The model's initial weights, dropout masks, the shuffle and the
augmentation come from one seed; the test split is never touched.

Multi-fidelity: with ``subset_epochs > 0`` the first epochs train on a random ``subset`` of the
training data, so a pruner's early rungs cost a fraction of a full epoch; surviving trials
continue on all of it, with one optimizer and one schedule over both.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from topnet.callbacks import BackupAndRestore, Callback, EarlyStopping, TerminateOnNaN
from topnet.callbacks.stop_flag import StopFlag
from topnet.configs.builders import build_augment, build_model, build_optimizer, complete_config, schedule_callbacks
from topnet.configs.data_spec import TrialData, model_arguments
from topnet.configs.settings import FitSettings
from topnet.seeding import derive_seed
from topnet.train import fit
from topnet.train.loop import resolve_device

__all__ = ["TrainOutcome", "train_config"]


@dataclass
class TrainOutcome:
    """What `train_config` returns: the model (best epoch's weights), its value, the curves."""

    model: torch.nn.Module
    value: float
    best_epoch: int
    curve: dict[str, list[float]]
    epochs_run: int


def _merge(histories: list[Any]) -> dict[str, list[float]]:
    curve: dict[str, list[float]] = {}
    for history in histories:
        for key, values in history.history.items():
            curve.setdefault(key, []).extend(float(v) for v in values)
    return curve


def _fork_rng(device: torch.device) -> Any:
    devices = [device.index or 0] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def train_config(config: dict[str, Any], data: TrialData, settings: FitSettings, *, seed: int,
                 callbacks: list[Callback] | tuple = (), backup_dir: str | os.PathLike | None = None,
                 verbose: int = 0) -> TrainOutcome:
    """Train the model of ``config`` on ``data``'s train split, validating on its valid split.

    The model's initial weights, dropout masks, the shuffle and the augmentation all come from
    ``seed`` (torch's global generator is forked, so the caller's state is left as it was).

    Args:
        config: a configuration (`topnet.configs.builders`); defaults are filled in.
        data: the splits, as `TrialData`.
        settings: epochs, metric, early stopping, multi-fidelity, device and class weights.
        seed: the trial's seed.
        callbacks: more callbacks (a `PruningCallback`, a `Deadline`), run before early stopping.
        backup_dir: where `BackupAndRestore` keeps this training's state (a folder per ``fit``
            phase; the caller removes it): a process killed part-way that trains the same
            configuration again with the same directory continues where it stopped, and ends
            as if never killed. None: no backups.
        verbose: ``fit``'s progress output (0: none, as in a search).

    Returns:
        A `TrainOutcome`; ``value`` is the best epoch's ``settings.metric`` (NaN if none).
    """
    config = complete_config(config, settings.epochs)
    splits, device = data.for_family(config["family"]), resolve_device(settings.device)
    mode = "max" if settings.direction == "maximize" else "min"
    patience = settings.epochs if settings.patience is None else settings.patience
    stopper = EarlyStopping(settings.metric, patience=patience, mode=mode,
                            restore_best_weights=settings.restore_best_weights)
    with _fork_rng(device):
        torch.manual_seed(seed)
        model = build_model(config, model_arguments(config["family"], splits.train, data.width))
        fit_options = dict(validation_data=splits.valid, batch_size=int(config["batch_size"]), loss=data.loss,
                           metrics=data.metrics, seed=seed, device=device, verbose=verbose,
                           precision=settings.precision, channels_last=settings.channels_last,
                           class_weight=settings.class_weight)
        histories = _fit_phases(model, config, splits.train, settings, list(callbacks), stopper, fit_options,
                                backup_dir)
    curve = _merge(histories)
    value = stopper.best if stopper.best is not None else _best(curve.get(settings.metric, []), mode)
    return TrainOutcome(model, float(value), stopper.best_epoch, curve, len(curve.get("loss", [])))


def _fit_phases(model: torch.nn.Module, config: dict[str, Any], train: Any, settings: FitSettings,
                callbacks: list[Callback], stopper: EarlyStopping, fit_options: dict[str, Any],
                backup_dir: str | os.PathLike | None) -> list[Any]:
    """``fit`` on a random subset for ``settings.subset_epochs`` epochs (if any), then on all of
    ``train`` up to ``settings.epochs``, with one optimizer and one schedule over both."""
    def backup(phase: str) -> list[Callback]:  # kept when a phase completes: the caller removes the folder
        return [] if backup_dir is None else [BackupAndRestore(Path(backup_dir) / phase, delete_checkpoint=False)]

    optimizer = build_optimizer(config, model)
    augment = build_augment(config, np.shape(train.x)[1:] if not isinstance(train.x, dict) else {})
    lr0, batch_size, first = optimizer.param_groups[0]["lr"], fit_options["batch_size"], settings.subset_epochs
    steps = math.ceil(len(train) / batch_size)  # per full-data epoch
    histories, flag, first_steps = [], StopFlag(), 0
    if first:
        rng = np.random.default_rng(derive_seed(fit_options["seed"], "subset"))
        size = max(1, round(settings.subset * len(train)))
        subset = train.take(np.sort(rng.choice(len(train), size, replace=False)))
        first_steps = first * math.ceil(size / batch_size)
        schedule = schedule_callbacks(config, lr0, first_steps + (settings.epochs - first) * steps)
        histories.append(fit(model, subset, epochs=first, optimizer=optimizer, augment=augment,
                             callbacks=[*backup("subset"), *schedule, *callbacks, TerminateOnNaN(32), flag],
                             **fit_options))
    if not flag.stopped:  # pruned, out of time or NaN during the subset epochs: no full-data epochs
        # the second fit counts steps from first * steps; the schedule continues at first_steps
        schedule = schedule_callbacks(config, lr0, first_steps + (settings.epochs - first) * steps,
                                      offset=first * steps - first_steps)
        histories.append(fit(model, train, epochs=settings.epochs, initial_epoch=first, optimizer=optimizer,
                             augment=augment, callbacks=[*backup("full"), *schedule, *callbacks, stopper,
                                                         TerminateOnNaN(32)], **fit_options))
    return histories


def _best(values: list[float], mode: str) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return (max if mode == "max" else min)(finite) if finite else math.nan
