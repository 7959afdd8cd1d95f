"""The Optuna objective: sample a configuration, train it with `train_config`, report, keep checkpoints.

`TrialObjective` wraps `topnet.configs.train_config` for ``study.optimize``: it samples the
configuration, reports the validation metric each epoch through `PruningCallback`, records
the configuration, seed and validation curve on the trial, and offers the best weights to the
`CheckpointKeeper`. The test split is never touched; ``blend`` only by the selection-bias check.
ASHA and Hyperband make early rungs cheap by cutting trials after a few epochs; ``subset_epochs``
(`FitSettings`) makes them cheaper still.
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
from topnet.errors import NonFiniteError, TrainingInterrupted
from topnet.io import remove_tree
from topnet.seeding import derive_seed
from topnet.tune._optuna import import_optuna
from topnet.tune.study import first_try_index

__all__ = ["TrialObjective"]


def _run_again(trial: Any) -> None:
    """Queue ``trial``'s parameters as a new trial that counts as its retry (as a heartbeat retry does)."""
    optuna = import_optuna()
    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
        retry()(trial.study, frozen)


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
        return Deadline(trial_time_limit(self.settings.trial_seconds, median))

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
