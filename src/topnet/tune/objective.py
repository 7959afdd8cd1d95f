"""The objective: train one configuration on ``train``, score it on ``valid``, report each epoch.

`train_config` is the whole of one trial without Optuna (also used to re-run configurations
with other seeds); `TrialObjective` wraps it for ``study.optimize``: it samples the
configuration, reports the validation metric each epoch through `PruningCallback`, records
the configuration, seed and validation curve on the trial, and offers the best weights to the
`CheckpointKeeper`. The test split is never touched; ``blend`` only by the selection-bias check.

Multi-fidelity: with ``subset_epochs > 0`` the first epochs train on a random ``subset`` of
the training data, so the pruner's early rungs cost a fraction of a full epoch; surviving
trials continue on all of it. ASHA and Hyperband also make early rungs cheap by cutting
trials after a few epochs.
"""
from __future__ import annotations

import dataclasses
import math
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from topnet.callbacks import BackupAndRestore, Callback, EarlyStopping, TerminateOnNaN
from topnet.callbacks._monitor import resolve_mode
from topnet.errors import NonFiniteError, TrainingInterrupted, format_message
from topnet.seeding import derive_seed
from topnet.io import remove_tree
from topnet.train import fit
from topnet.train.loop import check_precision, resolve_device
from topnet.tune._optuna import import_optuna
from topnet.tune.budget import Deadline
from topnet.tune.builders import build_augment, build_model, build_optimizer, complete_config, schedule_callbacks
from topnet.tune.data import TrialData, model_arguments
from topnet.tune.pruning import PruningCallback
from topnet.tune.study import first_try_index

__all__ = ["FitSettings", "TrainOutcome", "train_config", "TrialObjective"]


@dataclass(frozen=True)
class FitSettings:
    """How every trial of a search trains and is scored (stored with the study for workers).

    Args:
        epochs: epochs per trial (the full fidelity).
        metric: the validation log that is optimised (``val_accuracy``; ``val_loss`` for regression).
        direction: ``"maximize"`` or ``"minimize"``; None infers it from ``metric``'s name.
        patience: early stopping inside a trial (None: train all epochs); the best epoch's
            weights and value are kept either way.
        subset / subset_epochs: train the first ``subset_epochs`` epochs on a random fraction
            ``subset`` of the training data (multi-fidelity; 0 epochs: off).
        keep_top_k: checkpoints kept on disk (the top-k trials by value, plus the diverse top-k).
        seed: the search's seed; each trial's seed derives from it and the trial number.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        num_trials: the study's target of finished trials (None: until the budget ends).
        trial_seconds: a trial may train for ``max(trial_seconds, twice the median complete
            trial)`` seconds (None: no limit; nor before a first trial completes); a trial past it
            stops at the next batch and is recorded as pruned with ``stopped="slow"``, so that a
            few slow configurations cannot eat a short search.

    Example:
        >>> FitSettings(metric="val_loss").direction
        'minimize'
    """

    epochs: int = 3
    metric: str = "val_accuracy"
    direction: str | None = None
    patience: int | None = None
    subset: float = 1.0
    subset_epochs: int = 0
    keep_top_k: int = 3
    seed: int = 0
    device: str = "auto"
    num_trials: int | None = None
    trial_seconds: float | None = None
    precision: str = "float32"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.direction is None:
            mode = resolve_mode(self.metric, "auto", owner="tune")
            object.__setattr__(self, "direction", "maximize" if mode == "max" else "minimize")
        if self.direction not in ("maximize", "minimize"):
            raise ValueError(format_message("direction", self.direction, "'maximize' or 'minimize'"))
        for name in ("epochs", "keep_top_k"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(format_message(name, getattr(self, name), "a positive int"))
        if not 0 <= self.subset_epochs < self.epochs or not 0 < self.subset <= 1:
            raise ValueError(format_message("(subset, subset_epochs)", (self.subset, self.subset_epochs),
                                            f"a fraction in (0, 1] and fewer than epochs={self.epochs} epochs"))
        if self.num_trials is not None and (not isinstance(self.num_trials, int) or self.num_trials < 1):
            raise ValueError(format_message("num_trials", self.num_trials, "a positive int or None"))
        if self.trial_seconds is not None and not (isinstance(self.trial_seconds, (int, float))
                                                   and math.isfinite(self.trial_seconds) and self.trial_seconds > 0):
            raise ValueError(format_message("trial_seconds", self.trial_seconds, "a positive number of seconds or None"))
        check_precision(self.precision)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> FitSettings:
        return cls(**{f.name: document[f.name] for f in dataclasses.fields(cls) if f.name in document})


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


class _StopFlag(Callback):
    """Records whether a ``fit`` ended because a callback stopped it."""

    stopped = False

    def on_fit_end(self, state: Any) -> None:
        self.stopped = state.stop_training


def _fork_rng(device: torch.device) -> Any:
    devices = [device.index or 0] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def train_config(config: dict[str, Any], data: TrialData, settings: FitSettings, *, seed: int,
                 callbacks: list[Callback] | tuple = (), backup_dir: str | os.PathLike | None = None) -> TrainOutcome:
    """Train the model of ``config`` on ``data``'s train split, validating on its valid split.

    The model's initial weights, dropout masks, the shuffle and the augmentation all come from
    ``seed`` (torch's global generator is forked, so the caller's state is left as it was).

    Args:
        config: a configuration (`topnet.tune.builders`); defaults are filled in.
        data: the splits, as `TrialData`.
        settings: epochs, metric, early stopping, multi-fidelity and device.
        seed: the trial's seed.
        callbacks: more callbacks (a `PruningCallback`, a `Deadline`), run before early stopping.
        backup_dir: where `BackupAndRestore` keeps this training's state (a folder per ``fit``
            phase; the caller removes it): a process killed part-way that trains the same
            configuration again with the same directory continues where it stopped, and ends
            as if never killed. None: no backups.

    Returns:
        A `TrainOutcome`; ``value`` is the best epoch's ``settings.metric`` (NaN if none).
    """
    config = complete_config(config, settings.epochs)
    splits, device = data.for_family(config["family"]), resolve_device(settings.device)
    mode = "max" if settings.direction == "maximize" else "min"
    stopper = EarlyStopping(settings.metric, patience=settings.patience or settings.epochs, mode=mode,
                            restore_best_weights=True)
    with _fork_rng(device):
        torch.manual_seed(seed)
        model = build_model(config, model_arguments(config["family"], splits.train, data.width))
        fit_options = dict(validation_data=splits.valid, batch_size=int(config["batch_size"]), loss=data.loss,
                           metrics=data.metrics, seed=seed, device=device, verbose=0,
                           precision=settings.precision, channels_last=settings.channels_last)
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
    histories, flag, first_steps = [], _StopFlag(), 0
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


def _run_again(trial: Any) -> None:
    """Queue ``trial``'s parameters as a new trial that counts as its retry (as a heartbeat retry does)."""
    optuna = import_optuna()
    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
        retry()(trial.study, frozen)


def _best(values: list[float], mode: str) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return (max if mode == "max" else min)(finite) if finite else math.nan


class TrialObjective:
    """``study.optimize``'s objective: sample a configuration, train it, report, keep checkpoints.

    Args:
        space: the `SearchSpace`.
        data: the splits (`TrialData`).
        settings: `FitSettings`.
        keeper: a `CheckpointKeeper` (None: no checkpoints).
        deadline: a `Deadline` shared by the trials of this process (None: no wall-time limit).
        worker: a name for this process, recorded on each trial (default ``host:pid``).
        backup_dir: where running trials keep their backups (``backup_dir/INDEX``, by
            `first_try_index`), removed when the trial ends; the retry of a trial whose process
            was killed continues from its backup when it runs where that folder is (the same
            machine and ``out``). A trial stopped by SIGTERM (``TrainingInterrupted``) keeps its
            backup and is queued again with its parameters, so a resumed search continues it.
            None: no backups.

    A trial whose value is NaN or infinite (the training diverged) is marked FAIL with the
    reason in its ``error`` user attribute (Optuna would store +inf as a complete trial), as are
    trials that raise (`topnet.tune.runner`); neither can become the best.
    """

    def __init__(self, space: Any, data: TrialData, settings: FitSettings, *, keeper: Any = None,
                 deadline: Any = None, worker: str | None = None, backup_dir: str | os.PathLike | None = None):
        self.space = space
        self.data = data
        self.settings = settings
        self.keeper = keeper
        self.deadline = deadline
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.backup_dir = backup_dir

    def __call__(self, trial: Any) -> float:
        index = first_try_index(trial.study, trial)  # not the number: a retry before it must not shift the seeds
        backups = None if self.backup_dir is None else Path(self.backup_dir) / str(index)
        interrupted = False
        try:
            return self._run(trial, index, backups)
        except TrainingInterrupted:  # SIGTERM: the trial runs again (from its backup) when the search resumes
            interrupted = True
            _run_again(trial)
            trial.set_user_attr("stopped", "sigterm")  # after: the queued trial does not inherit it
            raise
        finally:  # otherwise the trial has ended (complete, pruned or failed): nothing will resume it
            if backups is not None and not interrupted:
                remove_tree(backups)

    def _time_limit(self, trial: Any) -> Deadline | None:
        """``max(trial_seconds, twice the median complete trial)``; None before a trial completes
        (the first one sets the scale: a baseline is never cut for being the slowest so far)."""
        if not self.settings.trial_seconds:
            return None
        done = [t for t in trial.study.get_trials(deepcopy=False)
                if t.state.name == "COMPLETE" and t.datetime_start and t.datetime_complete]
        if not done:
            return None
        median = float(np.median([(t.datetime_complete - t.datetime_start).total_seconds() for t in done]))
        return Deadline(max(float(self.settings.trial_seconds), 2 * median))

    def _run(self, trial: Any, index: int, backups: Path | None) -> float:
        config = complete_config(self.space.sample(trial), self.settings.epochs)
        seed = int(trial.user_attrs.get("seed", derive_seed(self.settings.seed, "trial", index) % 2**31))
        resumed = backups is not None and any(backups.glob("*/backup*.pt"))
        for key, value in (("config", config), ("seed", seed), ("worker", self.worker), ("resumed", resumed)):
            trial.set_user_attr(key, value)
        pruning = PruningCallback(trial, self.settings.metric)
        limit = self._time_limit(trial)
        callbacks = [c for c in (self.deadline, limit, pruning) if c is not None]
        outcome = train_config(config, self.data, self.settings, seed=seed, callbacks=callbacks, backup_dir=backups)
        trial.set_user_attr("curve", outcome.curve)
        trial.set_user_attr("epochs_run", outcome.epochs_run)
        trial.set_user_attr("best_epoch", outcome.best_epoch)
        if self.deadline is not None and self.deadline.expired_during_fit:
            trial.set_user_attr("stopped", "budget")
            raise import_optuna().TrialPruned("stopped when the wall-time budget ran out")
        if limit is not None and limit.expired_during_fit:
            trial.set_user_attr("stopped", "slow")
            raise import_optuna().TrialPruned(f"stopped after {limit.seconds:.0f}s (trial_seconds)")
        pruning.raise_if_pruned()
        if not math.isfinite(outcome.value):
            trial.set_user_attr("stopped", "diverged")  # not an error of the space: the search goes on (runner)
            raise NonFiniteError(f"{self.settings.metric} is {outcome.value} (the training diverged)")
        if self.keeper is not None:
            self.keeper.offer(trial, outcome.value, outcome.model, config)
        return outcome.value
