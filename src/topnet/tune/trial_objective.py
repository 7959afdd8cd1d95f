"""The Optuna objective: sample a configuration, train it with `train_config`, report, keep checkpoints.

`TrialObjective` wraps `topnet.configs.train_config` for ``study.optimize``: it samples the
configuration, reports the validation metric each epoch through `PruningCallback`, records
the configuration, seed and validation curve on the trial, and offers the best weights to the
`CheckpointKeeper`. The test split is never touched; ``blend`` only by the selection-bias check.
ASHA and Hyperband make early rungs cheap by cutting trials after a few epochs; ``subset_epochs``
(`FitSettings`) makes them cheaper still.

With ``FitSettings.folds = k`` (a bagged ``topnet run``) a trial is scored out of fold instead:
train, valid and blend are pooled and dealt into k folds (`fold_splits`, the same folds for
every trial), the configuration trains k times, each time on k − 1 folds, and is scored on the
fold it did not see; the trial's value is the score of those out-of-fold predictions over the
whole pool (each fold's value weighted by its rows: the accuracy or mean loss of the pooled
predictions). The epochs of fold j are reported as steps ``j * epochs + epoch``, so a pruner
compares a trial's fold j with the other trials' fold j, and it may stop a trial between folds.
"""
from __future__ import annotations

import math
import os
import socket
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from topnet.budget import trial_time_limit
from topnet.callbacks import Deadline, PruningCallback
from topnet.configs import FitSettings, TrialData, complete_config, train_config
from topnet.configs.training import TrainOutcome
from topnet.data import Splits, concatenate
from topnet.errors import NonFiniteError, TrainingInterrupted
from topnet.io import remove_tree
from topnet.seeding import derive_seed
from topnet.tune._optuna import import_optuna
from topnet.tune.study import first_try_index

__all__ = ["TrialObjective", "fold_splits"]


def fold_splits(splits: Splits, num_folds: int, *, seed: int, task: str) -> list[TrialData]:
    """The k folds of a trial scored out of fold: train, valid and blend (test is never part of
    a search) pooled in that order and dealt into ``num_folds`` folds (stratified by class for
    classification; `topnet.ensemble.selection.fold_ids`), as ``TrialData(train=the other
    folds, valid=fold j)`` for each j.

    Example:
        >>> from topnet.data import Dataset
        >>> part = Dataset(x=np.arange(20.0).reshape(10, 2), y=np.array([0, 1] * 5))
        >>> folds = fold_splits(Splits(train=part, valid=part.take(range(4))), 2, seed=0, task="classification")
        >>> [(len(f.splits.train), len(f.splits.valid)) for f in folds]
        [(7, 7), (7, 7)]
    """
    from topnet.ensemble.selection import fold_ids

    pool = concatenate([part for part in (splits.train, splits.valid, splits.blend) if part is not None])
    ids = fold_ids(np.asarray(pool.y), num_folds, seed=seed, stratify=task == "classification", what="search rows")
    return [TrialData(Splits(train=pool.take(np.flatnonzero(ids != fold)), valid=pool.take(np.flatnonzero(ids == fold))))
            for fold in range(int(ids.max()) + 1)]


def _run_again(trial: Any) -> None:
    """Queue ``trial``'s parameters as a new trial that counts as its retry (as a heartbeat retry does)."""
    optuna = import_optuna()
    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
        retry()(trial.study, frozen)


def _record(trial: Any, outcome: TrainOutcome) -> None:
    """The trial's curve, epochs run and best epoch, on record (a pruned trial keeps them too)."""
    trial.set_user_attr("curve", outcome.curve)
    trial.set_user_attr("epochs_run", outcome.epochs_run)
    trial.set_user_attr("best_epoch", outcome.best_epoch)


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

    With ``settings.folds`` the trial is scored out of fold (see the module's docstring); its
    folds train without backups (a trial stopped part-way runs again from its first fold), and
    no checkpoint is kept (no fold model saw every row).

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
        self._folds: list[TrialData] | None = None

    @property
    def folds(self) -> list[TrialData]:
        """The folds of an out-of-fold trial (dealt once, on first use, the same for every trial)."""
        if self._folds is None:
            self._folds = fold_splits(self.data.splits, self.settings.folds, task=self.data.task,
                                      seed=derive_seed(self.settings.seed, "search folds") % 2**31)
        return self._folds

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
        return Deadline(trial_time_limit(self.settings.trial_seconds, median))

    def _run(self, trial: Any, index: int, backups: Path | None) -> float:
        config = complete_config(self.space.sample(trial), self.settings.epochs)
        seed = int(trial.user_attrs.get("seed", derive_seed(self.settings.seed, "trial", index) % 2**31))
        resumed = backups is not None and any(backups.glob("*/backup*.pt"))
        for key, value in (("config", config), ("seed", seed), ("worker", self.worker), ("resumed", resumed)):
            trial.set_user_attr(key, value)
        limit = self._time_limit(trial)
        if self.settings.folds:
            outcome = self._train_folds(trial, config, seed, limit)
        else:
            pruning = PruningCallback(trial, self.settings.metric)
            callbacks = [c for c in (self.deadline, limit, pruning) if c is not None]
            outcome = train_config(config, self.data, self.settings, seed=seed, callbacks=callbacks,
                                   backup_dir=backups)
            _record(trial, outcome)
            self._stop_if_cut(trial, limit)
            pruning.raise_if_pruned()
        if not math.isfinite(outcome.value):
            trial.set_user_attr("stopped", "diverged")  # not an error of the space: the search goes on (runner)
            raise NonFiniteError(f"{self.settings.metric} is {outcome.value} (the training diverged)")
        if self.keeper is not None and not self.settings.folds:
            self.keeper.offer(trial, outcome.value, outcome.model, config)
        return outcome.value

    def _stop_if_cut(self, trial: Any, limit: Deadline | None) -> None:
        """Prune the trial whose last fit the search's deadline or its own time limit cut short."""
        if self.deadline is not None and self.deadline.expired_during_fit:
            trial.set_user_attr("stopped", "budget")
            raise import_optuna().TrialPruned("stopped when the wall-time budget ran out")
        if limit is not None and limit.expired_during_fit:
            trial.set_user_attr("stopped", "slow")
            raise import_optuna().TrialPruned(f"stopped after {limit.seconds:.0f}s (trial_seconds)")

    def _train_folds(self, trial: Any, config: dict[str, Any], seed: int, limit: Deadline | None) -> TrainOutcome:
        """Train ``config`` on each fold; the outcome's value is the out-of-fold score (the folds'
        values weighted by their rows), its curve the folds' epochs one after another, its
        model the first fold's. The pruner may stop the trial after any fold but the last."""
        folds, epochs = self.folds, self.settings.epochs
        curve, outcomes = {}, []
        for index, fold in enumerate(folds):
            pruning = PruningCallback(trial, self.settings.metric, step_offset=index * epochs)
            callbacks = [c for c in (self.deadline, limit, pruning) if c is not None]
            outcome = train_config(config, fold, self.settings, seed=derive_seed(seed, "fold", index) % 2**31,
                                   callbacks=callbacks)
            outcomes.append(outcome)
            for key, series in outcome.curve.items():
                curve.setdefault(key, []).extend(series)
            _record(trial, TrainOutcome(outcome.model, outcome.value, outcomes[0].best_epoch, curve,
                                        sum(o.epochs_run for o in outcomes)))
            self._stop_if_cut(trial, limit)
            pruning.raise_if_pruned()
            trial.set_user_attr("fold_values", [float(o.value) for o in outcomes])
            if index + 1 < len(folds) and trial.should_prune():
                trial.set_user_attr("stopped", f"pruned after fold {index}")
                raise import_optuna().TrialPruned(f"pruned after fold {index} of {len(folds)}")
        value = float(np.average([o.value for o in outcomes], weights=[len(f.splits.valid) for f in folds]))
        return TrainOutcome(model=outcomes[0].model, value=value, best_epoch=outcomes[0].best_epoch, curve=curve,
                            epochs_run=sum(o.epochs_run for o in outcomes))
