"""Phase 5 of ``topnet run``: retrain the chosen configurations on every train row, and LightGBM.

Each configuration gets an equal share of the phase's time; its epochs come from a short probe
that times the first configuration's steps on the full train split and one validation pass
(`probe_epoch_seconds`), or, without one, from the search's own measurement (seconds per epoch
on the trial's rows, scaled to the full train split), capped by ``max_epochs``; after each
model, the ones not yet started are sized again at its measured speed (`replan_epochs`).

Schedule and epochs are planned together: a schedule that decays over the planned epochs
(cosine, one_cycle) trains all of them, since early stopping would cut it with the rate still
high (`retrain_patience`); a constant rate stops early on the validation metric. Either way
the best epoch's weights are kept, and a `Deadline` stops a model that runs over its share. A
retrained model is never worse on valid than the search trial it was copied from: when it is,
the trial's own checkpoint (same valid split) takes its place (`_trial_fallback`). Each model writes its CSV history and TensorBoard logs, and a
`BackupAndRestore` directory while it trains, so a killed run resumes mid-model; a finished
model is saved to ``models/NAME/`` and never retrained.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from topnet.callbacks import BackupAndRestore, Callback, CSVLogger
from topnet.callbacks._monitor import resolve_mode
from topnet.data import Splits
from topnet.io import load_model, remove_tree, save_model
from topnet.pipeline.data import RunSplits
from topnet.seeding import derive_seed
from topnet.tune.budget import Deadline
from topnet.tune.checkpoints import TrialRecord
from topnet.tune.data import TrialData
from topnet.tune.objective import FitSettings, train_config

__all__ = ["MARGIN", "PROBE_MARGIN", "DECAYING_SCHEDULES", "RetrainPlan", "retrain_patience", "epoch_seconds", "probe_epoch_seconds", "replan_epochs", "plan_epochs", "make_plans", "retrain", "load_retrained", "search_checkpoints", "train_lightgbm"]


DECAYING_SCHEDULES = ("cosine", "one_cycle")  # learning-rate schedules that end at a low rate


@dataclass(frozen=True)
class RetrainPlan:
    """One model to retrain: its name, configuration, seed and epochs, and the valid value of
    the search trial it copies (None for the baseline stand-in)."""

    name: str
    trial: int
    config: dict[str, Any]
    seed: int
    epochs: int
    trial_value: float | None = None


def retrain_patience(config: dict[str, Any], patience: int) -> int | None:
    """Early stopping's patience for a retrained model of ``config``: None (train every planned
    epoch, keep the best) when its schedule decays over the planned epochs, else ``patience``.

    A 3-minute MNIST-1D run retrained 1cycle trials planned over up to 60 epochs; early stopping cut
    them at epochs 11-25 with the rate still near its peak, and every one scored below the trial
    it copied (see docs/benchmarks.md, issue 19).

    Example:
        >>> retrain_patience({"schedule": "cosine"}, 6), retrain_patience({"schedule": "constant"}, 6)
        (None, 6)
    """
    return None if config.get("schedule") in DECAYING_SCHEDULES else patience


def epoch_seconds(record: TrialRecord, durations: dict[int, float], trial_rows: int, rows: int) -> float | None:
    """Seconds one epoch on ``rows`` train rows should take, from the trial's measured speed on
    ``trial_rows`` (None when the trial's duration is unknown).

    Example:
        >>> record = TrialRecord(3, "COMPLETE", 0.9, {"epochs": 3}, curve={"loss": [1.0, 0.8, 0.7]})
        >>> epoch_seconds(record, {3: 60.0}, trial_rows=12000, rows=48000)
        80.0
    """
    seconds = durations.get(record.number)
    epochs = len(record.curve.get("loss", [])) or int(record.config.get("epochs", 0))
    if not seconds or epochs < 1:
        return None
    return seconds / epochs * rows / max(trial_rows, 1)


_clock = time.perf_counter  # the probe's clock (a test replaces it)


class _StepTimer(Callback):
    """Times the batches after the first ``warm`` ones, and the validation that ends the epoch."""

    def __init__(self, warm: int):
        self.warm, self.marks, self.epoch_end = warm, [], None

    def _now(self, state: Any) -> float:
        if next(state.model.parameters()).is_cuda:  # CUDA runs ahead of Python: wait for its queue
            torch.cuda.synchronize()
        return _clock()

    def on_batch_end(self, state: Any) -> None:
        if state.batch + 1 >= self.warm:
            self.marks.append(self._now(state))

    def on_epoch_end(self, state: Any) -> None:
        self.epoch_end = self._now(state)


def probe_epoch_seconds(config: dict[str, Any], data: RunSplits, settings: FitSettings, *, seed: int,
                        batches: int = 30, warm: int = 5) -> float | None:
    """Seconds one epoch of ``config`` on the full train split should take, validation included,
    from a probe: ``batches`` steps (at least ``warm + 2``) on train rows (the first ``warm`` pay
    one-off set-up costs and are not counted) and one validation pass, with ``settings``' device,
    precision and layout. None when train has fewer than ``warm + 2`` batches (an epoch that short is no cost).

    The search's trials overestimate a full epoch: scaled from 13,500 rows, a 15-minute run's
    best trial said 32-34 s per epoch on 48,000 rows where the retrained model took 24.5 s, so
    the run planned one 15-epoch model where two of 11 fitted, and ended 11% under its budget.
    """
    train = data.search_splits.train
    batch_size = int(config.get("batch_size", 32))
    steps = math.ceil(len(train) / batch_size)
    if steps < warm + 2:
        return None
    rows = min(len(train), max(batches, warm + 2) * batch_size)
    picked = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:rows].sort().values
    probe = Splits(train=train.take(picked.numpy()), valid=data.search_splits.valid)
    timer = _StepTimer(warm)
    settings = dataclasses.replace(settings, epochs=1, patience=None, subset_epochs=0)
    train_config(config, TrialData(probe), settings, seed=seed, callbacks=[timer])
    if len(timer.marks) < 2 or timer.epoch_end is None:
        return None
    per_step = (timer.marks[-1] - timer.marks[0]) / (len(timer.marks) - 1)
    return per_step * steps + (timer.epoch_end - timer.marks[-1])


# The share of the time a plan fills: the speeds scaled from the search's trials were off by up to
# 30%, so those plans keep 10%. The probe (`probe_epoch_seconds`) measured 23.5-27.4 s per epoch for
# 24-25 s real: its plans keep 5% (with 10%, a lone 5-minute model got 4 epochs and left 44 s of 144).
MARGIN, PROBE_MARGIN = 0.9, 0.95


def plan_epochs(seconds: float, per_epoch: float | None, max_epochs: int, margin: float = MARGIN) -> int:
    """The epochs that fit in ``margin × seconds``, between 1 and ``max_epochs`` (10 when the
    speed is unknown: the deadline then stops the model).

    Example:
        >>> plan_epochs(300, 80.0, max_epochs=50), plan_epochs(300, None, max_epochs=50)
        (3, 10)
        >>> plan_epochs(177, 27.3, max_epochs=50), plan_epochs(177, 27.3, max_epochs=50, margin=PROBE_MARGIN)
        (5, 6)
    """
    if not per_epoch:
        return min(max_epochs, 10)
    return int(max(1, min(max_epochs, math.floor(margin * seconds / per_epoch))))


def replan_epochs(seconds: float, per_epoch: float, *, waiting: int, first: int, min_epochs: int,
                  max_epochs: int) -> int:
    """Epochs for each of the ``waiting`` planned models once one has trained at ``per_epoch``
    seconds per epoch, with ``seconds`` left: the first model's ``first`` epochs when the time
    also holds another model of ``min_epochs`` (it is added later), else an equal share of the
    time (more epochs than planned, or fewer when the models train slower than the plan said).

    The plan's speed is a probe of a few seconds: a 15-minute run's probe said 27.4 s per epoch,
    its first model trained 8 epochs at 25 s, and 120 s of the phase went unused.

    Example:
        >>> replan_epochs(364, 25.0, waiting=1, first=8, min_epochs=8, max_epochs=30)  # 13 fit: not 8 + 8
        13
        >>> replan_epochs(2000, 25.0, waiting=4, first=13, min_epochs=8, max_epochs=30)  # 72 fit: 4 x 13, and more
        13
        >>> replan_epochs(300, 50.0, waiting=2, first=8, min_epochs=8, max_epochs=30)  # slower than planned
        2
    """
    if plan_epochs(seconds, per_epoch, 10**6) - waiting * first >= min_epochs:
        return first
    return plan_epochs(seconds / max(waiting, 1), per_epoch, max_epochs)


class _Progress(Callback):
    """One line per epoch: model, epoch, the metric, the best so far, time left in the phase."""

    def __init__(self, label: str, metric: str, deadline: Deadline, verbose: int):
        self.label, self.metric, self.deadline, self.verbose = label, metric, deadline, verbose
        self.best: float | None = None
        self.maximize = resolve_mode(metric, owner="retrain progress") == "max"

    def on_epoch_end(self, state: Any) -> None:
        value = state.logs.get(self.metric)
        if value is not None and not math.isnan(value):
            if self.best is None or (value > self.best if self.maximize else value < self.best):
                self.best = value
        if self.verbose:
            left = self.deadline.remaining()
            print(f"[retrain] {self.label} epoch {state.epoch + 1}/{state.epochs} {self.metric} "
                  f"{value if value is None else round(float(value), 4)} (best {self.best and round(self.best, 4)})"
                  + (f", {left:.0f}s left" if left is not None else ""), flush=True)


def _callbacks(run: Path, plan: RetrainPlan, tensorboard: bool) -> list[Callback]:
    callbacks: list[Callback] = [BackupAndRestore(run / "backup" / plan.name),
                                 CSVLogger(run / "histories" / f"{plan.name}.csv", append=True)]
    if tensorboard:
        try:
            from topnet.callbacks import TensorBoard

            callbacks.append(TensorBoard(run / "tensorboard" / plan.name, histogram_freq=0, write_graph=False))
        except ImportError:  # the tensorboard extra is not installed: the CSV history still is
            pass
    return callbacks


def retrain(plan: RetrainPlan, data: RunSplits, run: Path, *, metric: str, patience: int, seconds: float,
            device: str, tensorboard: bool, verbose: int, label: str, precision: str = "float32",
            channels_last: bool = False) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train ``plan`` on the full train split (validating on valid) and save it to ``models/NAME``.

    Returns:
        ``(model with its best epoch's weights, record)``; the record has the valid value,
        the best epoch, epochs run and seconds.
    """
    started = time.monotonic()
    deadline = Deadline(seconds)
    settings = FitSettings(epochs=plan.epochs, metric=metric, patience=retrain_patience(plan.config, patience),
                           device=device, seed=plan.seed, precision=precision, channels_last=channels_last)
    callbacks = [deadline, _Progress(label, metric, deadline, verbose), *_callbacks(run, plan, tensorboard)]
    outcome = train_config(plan.config, TrialData(data.search_splits), settings, seed=plan.seed, callbacks=callbacks)
    model, value = outcome.model, outcome.value
    fallback = _trial_fallback(run, plan, value, metric)
    if fallback is not None:
        model, value = fallback
        if verbose:
            print(f"[retrain] {label}: valid {outcome.value:.4f} is worse than its search trial's "
                  f"{value:.4f}: keeping the trial's weights", flush=True)
    record = {"name": plan.name, "trial": plan.trial, "family": plan.config.get("family"), "seed": plan.seed,
              "valid": value, "retrained_valid": outcome.value, "trial_valid": plan.trial_value,
              "weights": "retrained" if fallback is None else f"search trial {plan.trial}",
              "best_epoch": outcome.best_epoch, "epochs_run": outcome.epochs_run,
              "epochs_planned": plan.epochs, "seconds": round(time.monotonic() - started, 3),
              "stopped_by_budget": deadline.expired, "config": plan.config,
              "num_params": sum(p.numel() for p in model.parameters())}
    save_model(model, run / "models" / plan.name,
               metadata={"task": data.task, "class_names": data.info.get("class_names"), **record})
    remove_tree(run / "backup" / plan.name)
    return model, record


def _trial_fallback(run: Path, plan: RetrainPlan, value: float, metric: str) -> tuple[torch.nn.Module, float] | None:
    """``(the search trial's model, its valid value)`` when the retrained ``value`` is worse than
    the trial's (or NaN) and the trial's checkpoint is on disk; else None."""
    from topnet.io import read_config

    folder = run / "search" / "trials" / str(plan.trial)
    if plan.trial < 0 or plan.trial_value is None or not (folder / "weights.safetensors").is_file():
        return None
    trial_value = read_config(folder).get("metadata", {}).get("value", plan.trial_value)
    if trial_value is None or not math.isfinite(trial_value):
        return None
    maximize = resolve_mode(metric, owner="retrain") == "max"
    if math.isfinite(value) and (value >= trial_value if maximize else value <= trial_value):
        return None
    return load_model(folder), float(trial_value)


def load_retrained(run: Path, name: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A model ``retrain`` saved, with its record (for a resumed run)."""
    from topnet.io import read_config

    model = load_model(run / "models" / name)
    metadata = read_config(run / "models" / name).get("metadata", {})
    return model, {k: v for k, v in metadata.items() if k not in ("task", "class_names")}


def search_checkpoint_folders(directory: Path) -> list[Path]:
    """The search's kept trials (``directory/trials/N`` holding ``weights.safetensors``), in
    trial order; a folder without weights (a trial cut before it saved) is left out."""
    folders = sorted((directory / "trials").glob("*"), key=lambda p: (len(p.name), p.name))
    return [folder for folder in folders if (folder / "weights.safetensors").is_file()]


def search_checkpoints(directory: Path) -> tuple[dict[str, torch.nn.Module], dict[str, dict[str, Any]]]:
    """The models the search kept (`search_checkpoint_folders`: its top trials, trained on the
    search's rows and epochs), as extra ensemble members named ``search-tN``: they cost
    nothing more to train, and the weights fitted on blend decide whether they help."""
    from topnet.io import read_config

    models, records = {}, {}
    for folder in search_checkpoint_folders(directory):
        metadata = read_config(folder).get("metadata", {})
        name = f"search-t{folder.name}"
        models[name] = load_model(folder)
        records[name] = {"name": name, "trial": metadata.get("trial"), "valid": metadata.get("value"),
                         "family": metadata.get("config", {}).get("family"),
                         "num_params": sum(p.numel() for p in models[name].parameters())}
    return models, records


def make_plans(records: list[TrialRecord], durations: dict[int, float], data: RunSplits, *, seed: int,
               seconds: float, max_epochs: int, trial_rows: int, first_index: int = 0,
               per_epoch: float | None = None, margin: float = MARGIN) -> list[RetrainPlan]:
    """A `RetrainPlan` per chosen trial, with epochs from its measured speed (or ``per_epoch``
    seconds, measured by the probe or on an earlier retrained model) and an equal share of
    ``seconds`` (`plan_epochs` with ``margin``); plans are numbered (and seeded) from ``first_index``."""
    plans, rows = [], len(data.splits.train)
    measured = per_epoch
    for offset, record in enumerate(records):
        index = first_index + offset
        per_epoch = measured or epoch_seconds(record, durations, trial_rows, rows)
        epochs = plan_epochs(seconds / max(len(records), 1), per_epoch, max_epochs, margin)
        name = f"{index:02d}-{record.family}-" + (f"t{record.number}" if record.number >= 0 else "baseline")
        plans.append(RetrainPlan(name, record.number, dict(record.config), derive_seed(seed, "retrain", index) % 2**31,
                                 epochs, record.value))
    return plans


def train_lightgbm(data: RunSplits, run: Path, *, seed: int, seconds: float) -> tuple[Any, dict[str, Any]]:
    """A LightGBM member on train (early-stopped on valid, stopped at ``seconds``), saved to ``models/lightgbm``."""
    from topnet.ensemble import LightGBMMember

    started = time.monotonic()
    member = LightGBMMember(task=data.task, seed=seed, num_boost_round=1000, time_limit=seconds)
    member.fit(data.splits.train, data.splits.valid)
    member.save(run / "models" / "lightgbm")
    record = {"name": "lightgbm", "family": "lightgbm", "seconds": round(time.monotonic() - started, 3),
              "trees": member.best_iteration_}
    return member, record
