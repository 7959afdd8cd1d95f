"""``tune``: search hyperparameters and architectures with Optuna, within a budget.

Chollet 7.3.2's loop, automated: choose a configuration (the sampler), build and train it on
``train``, score it on ``valid`` (pruning hopeless trials after each epoch), repeat until the
budget is spent; the test split is never read. The study lives in ``out/study.db`` (or a shared
PostgreSQL database); running the same call again resumes it, and ``topnet worker`` processes
on other machines can join it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from topnet.budget import Budget, parse_budget
from topnet.callbacks.deadline import Deadline
from topnet.configs import DataSpec, FitSettings, Prepared, TrialData, prepare_splits
from topnet.data import Splits
from topnet.errors import format_message
from topnet.io import atomic_write_text
from topnet.tune.bias import blend_score, seed_noise
from topnet.tune.checkpoints import CheckpointKeeper
from topnet.tune.defaults import default_space
from topnet.tune.results import TuneResult, summarize
from topnet.tune.runner import run_trials
from topnet.tune.space import SearchSpace
from topnet.tune.space_check import check_space
from topnet.tune.study import make_pruner, make_sampler, make_storage, open_study, study_attrs
from topnet.tune.study_plots import write_plots
from topnet.tune.trial_objective import TrialObjective

__all__ = ["tune", "resolve_space", "resolve_data"]


def resolve_space(space: Any, splits: Splits) -> SearchSpace:
    """A `SearchSpace` from None (the default for the data), a TOML path, a dict or a space.

    Raises:
        ValueError: a dict or TOML file naming keys or values outside the configuration
            vocabulary (`topnet.tune.space_check.check_space`).
    """
    if space is None:
        return default_space(splits)
    if isinstance(space, dict):
        space = SearchSpace.from_dict(space)
    elif isinstance(space, (str, os.PathLike)):
        space = SearchSpace.from_toml(space)
    elif not isinstance(space, SearchSpace):
        raise TypeError(format_message("space", type(space).__name__,
                                       "None, a SearchSpace, a dict or a TOML file path"))
    check_space(space)  # a SearchSpace too: the CLI fixes --set values into it after reading
    return space


def resolve_data(data: Any) -> tuple[Splits, DataSpec | None, dict[str, Any] | None]:
    """``(splits, spec, standardizer states)`` from `Splits`, `Prepared` splits (loaded once, with
    their spec for workers), a `DataSpec` or a dataset name/path."""
    if isinstance(data, Splits):
        return data, None, None
    if isinstance(data, Prepared):
        return dataclasses.replace(data.splits, test=None), data.spec, data.standardizers
    if isinstance(data, (str, os.PathLike)):
        data = DataSpec(str(data))
    if isinstance(data, DataSpec):
        splits, standardizers = prepare_splits(data)
        return splits, data, standardizers
    raise TypeError(format_message("data", type(data).__name__, "Splits, Prepared, a DataSpec, or a dataset name or file"))


def tune(space: Any = None, data: Any = None, *, budget: str | float | None = None, num_trials: int | None = None,
         max_trials: int | None = None,
         sampler: Any = "tpe", pruner: Any = "median", storage: str | None = None, study_name: str = "topnet",
         seed: int = 0, out: str | os.PathLike = "runs/tune", epochs: int = 3, metric: str | None = None,
         direction: str | None = None, patience: int | None = None, keep_top_k: int = 3, subset: float = 1.0,
         subset_epochs: int = 0, device: str = "auto", noise_seeds: int = 0, heartbeat_interval: int = 30,
         grace_period: int | None = None, trial_seconds: float | None = None, precision: str = "float32",
         channels_last: bool = False, class_weight: dict[int, float] | None = None, folds: int = 0,
         plots: bool = True, verbose: int = 1) -> TuneResult:
    """Search the configurations of ``space`` on ``data`` and return the best.

    Args:
        space: a `SearchSpace`, its dict or TOML file, or None for the default space of the data.
        data: `Splits` (train and valid used; blend for the selection-bias check; test never
            read), a `DataSpec`, or a dataset name / file (split and standardised here).
        budget: wall time (``"10m"``, ``"2h"``, seconds) or a trial count (``"20 trials"``).
        num_trials: the study's target of finished trials (a resumed study counts its old ones;
            so do the trials of ``topnet worker`` processes sharing the study).
        max_trials: the most trials this call runs itself; 0 only creates (or summarises) the
            study, for workers to run.
        sampler: ``random``, ``tpe``, ``gp``, ``cmaes``, ``nsga2``, or an Optuna sampler.
        pruner: ``none``, ``median``, ``asha``, ``hyperband``, or an Optuna pruner.
        storage: a database URL (``postgresql://...`` to share the study); default
            ``sqlite:///OUT/study.db``.
        study_name: the study's name in the storage; the same name resumes it.
        seed: seeds the sampler and each trial (model, shuffle, augmentation).
        out: the output directory (``tune.json``, plots, ``trials/NUMBER`` checkpoints, and
            ``backups/`` of the running trials, from which a crashed trial's retry continues).
        epochs / metric / direction / patience / keep_top_k / subset / subset_epochs / device:
            see `FitSettings` (``metric`` defaults to ``val_accuracy``, ``val_loss`` for regression).
        noise_seeds: re-train the top 3 configurations with this many other seeds (after the
            budget: this time comes on top of it).
        heartbeat_interval / grace_period: seconds; a trial without a heartbeat for
            ``grace_period`` is marked failed and retried.
        trial_seconds: once a trial has completed, a trial may train for
            ``max(trial_seconds, twice the median complete trial)`` seconds; a slower one is
            stopped and recorded as pruned (``stopped="slow"``). None: no limit.
        precision / channels_last / class_weight: as in `topnet.fit` (``precision="auto"``: bf16
            where the device does it in hardware; ``class_weight={class: weight}`` weights each
            trial's training loss); workers of a shared study follow them.
        folds: 0 scores each trial on ``valid``; k >= 2 scores it out of fold over train, valid
            and blend pooled (k trainings per trial; `FitSettings.folds`), as a bagged
            ``topnet run`` does. The selection-bias check on blend is then not made (blend is
            part of the pool).
        plots: write ``history.png`` and ``importances.png``.
        verbose: 1 prints a line per trial.

    Returns:
        A `TuneResult`, also written to ``out/tune.json``.

    Raises:
        ValueError: unknown sampler / pruner names, no budget, a bad space, or a study that
            exists with another space.

    Example (a few seconds; see docs/tuning.md):
        result = tune(data=splits, num_trials=4, epochs=2, out="runs/tune-demo")
        result.best_value, result.top_k(2)
    """
    limits = parse_budget(budget)
    deadline = Deadline(limits.seconds)  # the whole call, data preparation included
    limits = Budget(limits.seconds, num_trials if num_trials is not None else limits.trials)
    if limits.seconds is None and limits.trials is None and max_trials is None:
        raise ValueError(format_message("budget", budget, "a wall time or a trial count",
                                        "e.g. budget='10m' or num_trials=20"))
    sampler_object, pruner_object = make_sampler(sampler, seed), make_pruner(pruner, epochs * max(folds, 1))
    splits, spec, standardizers = resolve_data(data)
    trial_data = TrialData(splits)
    metric = metric or ("val_accuracy" if trial_data.task == "classification" else "val_loss")
    settings = FitSettings(epochs=epochs, metric=metric,
                           direction=direction, patience=patience, subset=subset, subset_epochs=subset_epochs,
                           keep_top_k=keep_top_k, seed=seed, device=device, num_trials=limits.trials,
                           trial_seconds=trial_seconds, precision=precision, channels_last=channels_last,
                           class_weight=class_weight, folds=folds)
    space = resolve_space(space, splits)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    attrs = study_attrs(space, spec, settings, sampler=sampler, pruner=pruner,
                        deadline_at=None if limits.seconds is None else time.time() + deadline.remaining())
    study = open_study(make_storage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period), study_name,
                       sampler=sampler_object, pruner=pruner_object, direction=settings.direction, attrs=attrs)
    if not study.get_trials(deepcopy=False):  # a new study; a resumed one has tried them already
        for params in space.first_trials():  # the baseline, then the portfolio: TPE's first history
            study.enqueue_trial(params)
    keeper = CheckpointKeeper(out, keep_top_k, maximize=settings.direction == "maximize")
    objective = TrialObjective(space, trial_data, settings, keeper=keeper, deadline=deadline, backup_dir=out / "backups")
    ran = run_trials(study, objective, num_trials=limits.trials, max_trials=max_trials, deadline=deadline,
                     verbose=verbose)
    keeper.prune(study)
    result = summarize(study, metric=settings.metric, direction=settings.direction, storage=url, out=str(out),
                       time_used=deadline.elapsed(), trials_run=len(ran),
                       budget={"seconds": limits.seconds, "trials": limits.trials})
    _finish(result, trial_data, settings, out, noise_seeds=noise_seeds, plots=plots, standardizers=standardizers)
    result.time_used = round(deadline.elapsed(), 3)  # with the blend check and plots (and noise re-runs, if any)
    result.write_json(out / "tune.json")
    if verbose:
        print(f"tune: best {settings.metric}={result.best_value} (trial {result.best_trial}); "
              f"{result.counts}; {result.time_used:.0f}s; {out / 'tune.json'}")
    return result


def _finish(result: TuneResult, data: TrialData, settings: FitSettings, out: Path, *, noise_seeds: int,
            plots: bool, standardizers: dict[str, Any] | None) -> None:
    """Selection bias, seed noise, plots and the standardiser, added to ``result`` and ``out``."""
    best = result.top_k(1, diverse=False)
    if best:
        result.selection_bias = blend_score(best[0], data, settings)
    if noise_seeds:
        result.noise = seed_noise(result.top_k(3, diverse=False), data, settings, noise_seeds)
    if plots and result.records:
        result.plots = write_plots(result.study, result.records, out, metric=settings.metric,
                                   maximize=settings.direction == "maximize")
    if standardizers is not None:  # what the saved models' inputs were standardised with
        states = {key: {k: np.asarray(v).tolist() for k, v in state.items()} for key, state in standardizers.items()}
        atomic_write_text(out / "standardizer.json", json.dumps(states) + "\n")

