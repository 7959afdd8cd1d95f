"""Phase 5 of ``topnet run``: retrain the chosen configurations on every train row, and LightGBM.

Each configuration gets an equal share of the phase's time; its epochs come from a short probe
that times the first configuration's steps on the full train split and one validation pass
(`probe_epoch_seconds`), or, without one, from the search's own measurement (seconds per epoch
on the trial's rows, scaled to the full train split), capped by ``max_epochs``; after each
model, the ones not yet started are sized again at its measured speed (`topnet.budget.replan_epochs`).
The time rules are `topnet.budget`'s; `Retraining` follows them through the phase.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from topnet import budget
from topnet.budget import MARGIN, PROBE_MARGIN
from topnet.callbacks import BackupAndRestore, Callback, CSVLogger, Deadline
from topnet.callbacks._monitor import resolve_mode
from topnet.callbacks.epoch_progress import EpochProgress
from topnet.callbacks.step_timer import StepTimer
from topnet.configs import FitSettings, TrialData, train_config
from topnet.data import Splits
from topnet.io import load_model, remove_tree, save_model
from topnet.pipeline.bagged import member_name
from topnet.pipeline.data import RunSplits
from topnet.pipeline.run_state import Run
from topnet.seeding import derive_seed
from topnet.tune.checkpoints import TrialRecord

__all__ = ["DECAYING_SCHEDULES", "RetrainPlan", "Retraining", "retrain_patience", "trial_epoch_seconds",
           "probe_epoch_seconds", "make_plans", "retrain", "load_retrained", "search_checkpoints",
           "search_checkpoint_folders", "train_lightgbm", "train_tfidf_linear"]


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

    Early stopping would cut a decaying schedule with the rate still near its peak, leaving the
    model worse than the short trial it copies (docs/measured-defaults.md).

    Example:
        >>> retrain_patience({"schedule": "cosine"}, 6), retrain_patience({"schedule": "constant"}, 6)
        (None, 6)
    """
    return None if config.get("schedule") in DECAYING_SCHEDULES else patience


def trial_epoch_seconds(record: TrialRecord, durations: dict[int, float], trial_rows: int, rows: int) -> float | None:
    """Seconds one epoch on ``rows`` train rows should take, from the trial's measured speed on
    ``trial_rows`` (`topnet.budget.epoch_seconds`; None when the trial's duration is unknown).

    Example:
        >>> record = TrialRecord(3, "COMPLETE", 0.9, {"epochs": 3}, curve={"loss": [1.0, 0.8, 0.7]})
        >>> trial_epoch_seconds(record, {3: 60.0}, trial_rows=12000, rows=48000)
        80.0
    """
    epochs = len(record.curve.get("loss", [])) or int(record.config.get("epochs", 0))
    return budget.epoch_seconds(durations.get(record.number), epochs, trial_rows, rows)


def probe_epoch_seconds(config: dict[str, Any], data: RunSplits, settings: FitSettings, *, seed: int,
                        batches: int = 30, warm: int = 5,
                        clock: Callable[[], float] = time.perf_counter) -> float | None:
    """Seconds one epoch of ``config`` on the full train split should take, validation included,
    from a probe: ``batches`` steps (at least ``warm + 2``) on train rows (the first ``warm`` pay
    one-off set-up costs and are not counted) and one validation pass, with ``settings``' device,
    precision and layout. None when train has fewer than ``warm + 2`` batches (an epoch that short is no cost).

    The search's trials, scaled from a subset of rows, overestimate a full epoch; a probe of the
    real thing plans the retraining closer to its time (docs/measured-defaults.md).
    """
    train = data.splits.train
    batch_size = int(config.get("batch_size", 32))
    steps = math.ceil(len(train) / batch_size)
    if steps < warm + 2:
        return None
    rows = min(len(train), max(batches, warm + 2) * batch_size)
    picked = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:rows].sort().values
    probe = Splits(train=train.take(picked.numpy()), valid=data.splits.valid)
    timer = StepTimer(warm, clock=clock)
    settings = dataclasses.replace(settings, epochs=1, patience=None, subset_epochs=0)
    train_config(config, TrialData(probe), settings, seed=seed, callbacks=[timer])
    if len(timer.marks) < 2 or timer.epoch_end is None:
        return None
    per_step = (timer.marks[-1] - timer.marks[0]) / (len(timer.marks) - 1)
    return per_step * steps + (timer.epoch_end - timer.marks[-1])


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


def retrain(plan: RetrainPlan, data: RunSplits, run: Path, settings: FitSettings, *, patience: int, seconds: float,
            tensorboard: bool, verbose: int, label: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train ``plan`` on the full train split (validating on valid) and save it to ``models/NAME``.

    Args:
        settings: how the run's networks train (metric, device, precision, layout); the plan
            sets the epochs and the seed, `retrain_patience` the early stopping.

    Returns:
        ``(model with its best epoch's weights, record)``; the record has the valid value,
        the best epoch, epochs run and seconds.
    """
    started = time.monotonic()
    deadline = Deadline(seconds)
    metric = settings.metric
    settings = dataclasses.replace(settings, epochs=plan.epochs, seed=plan.seed,
                                   patience=retrain_patience(plan.config, patience))
    callbacks = [deadline, EpochProgress(label, metric, deadline, verbose), *_callbacks(run, plan, tensorboard)]
    outcome = train_config(plan.config, TrialData(data.splits), settings, seed=plan.seed, callbacks=callbacks)
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
               per_epoch: dict[int, float] | None = None, margin: float = MARGIN) -> list[RetrainPlan]:
    """A `RetrainPlan` per chosen trial, trained one after another in ``seconds``: the same
    epochs each, as many as fit at each configuration's speed (`topnet.budget.shared_epochs` with
    ``margin``). A speed is ``per_epoch[trial number]`` (measured by the probe or on an earlier
    retrained model), else the trial's own, scaled to every train row; plans are numbered (and
    seeded) from ``first_index``."""
    rows, per_epoch = len(data.splits.train), per_epoch or {}
    speeds = [per_epoch.get(record.number) or trial_epoch_seconds(record, durations, trial_rows, rows)
              for record in records]
    plans = []
    for offset, (record, epochs) in enumerate(zip(records, budget.shared_epochs(seconds, speeds, max_epochs, margin))):
        index = first_index + offset
        plans.append(RetrainPlan(member_name(index, record), record.number, dict(record.config),
                                 derive_seed(seed, "retrain", index) % 2**31, epochs, record.value))
    return plans


def train_lightgbm(data: RunSplits, run: Path, *, seed: int, seconds: float,
                   class_weight: dict[int, float] | None = None, threads: int = 0) -> tuple[Any, dict[str, Any]]:
    """A LightGBM member on train (early-stopped on valid, stopped at ``seconds``), saved to ``models/lightgbm``."""
    from topnet.ensemble import LightGBMMember

    started = time.monotonic()
    if data.kind == "text":  # trees do not read token ids: the classic member of text is TF-IDF + a linear model
        return train_tfidf_linear(data, run, seed=seed, seconds=seconds, class_weight=class_weight)
    member = LightGBMMember(task=data.task, seed=seed, num_boost_round=1000, time_limit=seconds, class_weight=class_weight,
                            num_threads=threads)
    member.fit(data.splits.train, data.splits.valid)
    member.save(run / "models" / "lightgbm")
    record = {"name": "lightgbm", "family": "lightgbm", "seconds": round(time.monotonic() - started, 3),
              "trees": member.best_iteration_}
    return member, record


def train_tfidf_linear(data: RunSplits, run: Path, *, seed: int, seconds: float,
                       class_weight: dict[int, float] | None = None) -> tuple[Any, dict[str, Any]]:
    """TF-IDF of word 1-2 grams and a logistic regression (ridge for regression) on train, its
    strength picked on valid within ``seconds``; saved to ``models/lightgbm`` (the run's classic
    member's folder, whatever its kind)."""
    from topnet.configs.data_spec import text_input
    from topnet.ensemble.text_linear import TfidfLinearMember

    started = time.monotonic()
    member = TfidfLinearMember("tfidf_linear", data.task, vocab_size=text_input(data.splits.train)["vocab_size"],
                               time_limit=seconds, class_weight=class_weight, seed=seed)
    member.fit(data.splits.train, data.splits.valid)
    member.save(run / "models" / "lightgbm")
    record = {"name": member.name, "family": "tfidf_linear", "seconds": round(time.monotonic() - started, 3),
              "trees": 0, "C": getattr(member, "C_", None)}
    return member, record


class Retraining:
    """The retrain phase of a run: which models, how many epochs each, trained one after another.

    The first plans (`plan_first`) are sized by a probe of each chosen configuration's speed on
    the full train split (a deeper one is slower): ``ensemble_size`` models, or as many as can
    each train ``min_epochs`` epochs (`topnet.budget.retrain_count`); the chosen configurations
    are taken in turn, each model with its own seed, and the same epochs each. After each model
    the ones not yet started are sized again at their configurations' speeds, as measured on
    the models trained so far (the slowest of each) or by the probe
    (`topnet.budget.replan_epochs`), and while the phase has time for one more of ``min_epochs``
    epochs (`topnet.budget.fits_another`), one is added, up to twice ``ensemble_size``; a model
    added later trains no more epochs than the first. A model may run for its share of the time
    left in proportion to its speed. The plans and speeds are kept in ``state.json``, so a
    resumed run trains the ones not yet done.

    Args:
        run: the run (its settings, plan, state, directory and data).
        chosen: the configurations to retrain (search trials, or the baseline stand-in).
        durations: seconds each search trial took (their speed, when no probe can run).
        trial_rows: train rows a search trial saw.
        metric: the validation metric the search optimised.
    """

    def __init__(self, run: Run, chosen: list[TrialRecord], durations: dict[int, float], trial_rows: int,
                 metric: str):
        self.run, self.chosen, self.durations = run, chosen, durations
        self.trial_rows, self.metric = trial_rows, metric
        self.began = time.monotonic()
        self.plans: list[dict[str, Any]] = run.state.document.get("retrain_plans") or []
        # the later phases keep their nominal share (LightGBM) or their floor (the ensemble)
        lightgbm = run.config.lightgbm and not run.data.on_disk  # the phase runs
        self.later = ["lightgbm", "ensemble"] if lightgbm else ["ensemble"]
        self.kept = len(search_checkpoint_folders(run.out / "search"))
        self.models: dict[str, torch.nn.Module] = {}
        self.records: dict[str, dict[str, Any]] = {}
        # seconds per epoch on every train row, per trial number (JSON keys are strings)
        self.probed: dict[int, float] = {int(k): v for k, v in run.state.document.get("retrain_speeds", {}).items()}
        # rows the ensemble predicts (valid, blend, test) per train row: scales an epoch's seconds to its floor
        splits = run.data.splits
        self.predicted_rows = (len(splits.valid) + len(splits.blend) + len(run.data.test)) / max(len(splits.train), 1)

    def left(self) -> float:
        """Seconds for the models not yet trained (`topnet.budget.BudgetPlan.left_in_phase`)."""
        return self.run.plan.left_in_phase("retrain", self.later)

    def plan_first(self) -> None:
        """The first plans: a probe of each chosen configuration's speed, then as many models as
        fit (`retrain_count`), the baseline stand-in of a search that finished no trial (or
        ``search = false``) too: its copies differ by seed, and more are added if time is left."""
        config, document = self.run.config, self.run.state.document
        first = self.chosen[0]
        for record in {r.number: r for r in self.chosen}.values():
            speed = probe_epoch_seconds(record.config, self.run.data, self.run.fit_settings(self.metric),
                                        seed=config.seed)
            if speed:
                self.probed[record.number] = speed
        estimate = trial_epoch_seconds(first, self.durations, self.trial_rows, len(self.run.data.splits.train))
        document["retrain_probe"] = {"epoch_seconds": self.probed.get(first.number), "from_trials": estimate,
                                     "seconds": round(time.monotonic() - self.began, 3)}
        document["retrain_speeds"] = {str(k): v for k, v in self.probed.items()}
        margin = PROBE_MARGIN if first.number in self.probed else MARGIN
        self._reserve_ensemble(config.ensemble_size)
        picks = [self._pick(i) for i in range(config.ensemble_size)]
        count = budget.retrain_count(self.left(), [self._speed(r) for r in picks], ensemble_size=config.ensemble_size,
                                     min_epochs=config.min_epochs, unknown=config.top_k, margin=margin)
        self._reserve_ensemble(count)
        self._add(count, max(1.0, self.left()), margin)
        document["retrain_plans"], document["retrain_planned"] = self.plans, len(self.plans)
        self.run.save()

    def _pick(self, index: int) -> TrialRecord:
        """The configuration of model ``index``: the chosen ones in turn."""
        return self.chosen[index % len(self.chosen)]

    def _speed(self, record: TrialRecord | int) -> float | None:
        """Seconds per epoch on every train row of a chosen configuration (by trial number): the
        slowest of its models trained so far, else its probe, else its trial's speed scaled, else
        the slowest model of any configuration trained so far (None before the first)."""
        number = record if isinstance(record, int) else record.number
        measured = [(r.get("trial"), r["seconds"] / r["epochs_run"]) for r in self.records.values() if r.get("epochs_run")]
        own = [speed for trial, speed in measured if trial == number]
        if own:
            return max(own)
        if number in self.probed:
            return self.probed[number]
        found = next((r for r in self.chosen if r.number == number), None)
        scaled = trial_epoch_seconds(found, self.durations, self.trial_rows, len(self.run.data.splits.train)) \
            if found is not None else None
        return scaled or max((speed for _, speed in measured), default=None)

    def train_all(self, *, add_more: bool = True) -> tuple[dict[str, torch.nn.Module], dict[str, dict[str, Any]]]:
        """Train (or, on resume, load) every planned model; with ``add_more``, add models while
        one more fits. Returns ``(models, records)`` by name."""
        config = self.run.config
        self._reserve_ensemble(len(self.plans))
        index = 0
        while index < len(self.plans):
            trained = self._train(index)
            index += 1
            if trained and index < len(self.plans):
                self._replan(index)
            following = self._pick(len(self.plans))  # the configuration a model added next has
            if (add_more and index == len(self.plans) and len(self.plans) < 2 * config.ensemble_size
                    and budget.fits_another(self.left(), self._speed(following), config.min_epochs)):
                self._add(1, self.left())
                self.run.save()
        return self.models, self.records

    def _train(self, index: int) -> bool:
        """Train plan ``index`` (True), or load it when a killed run finished it (False)."""
        run, item = self.run, RetrainPlan(**self.plans[index])
        if item.name in run.state.document["retrained"]:
            self.models[item.name], self.records[item.name] = load_retrained(run.out, item.name)
            return False
        speeds = [self._speed(plan["trial"]) for plan in self.plans[index:]]
        share = speeds[0] / sum(speeds) if all(speeds) else 1 / len(speeds)  # in proportion to its speed
        seconds = max(1.0, self.left()) * share
        run.say(f"retraining {item.name} ({item.epochs} epochs at most)", seconds)
        self.models[item.name], self.records[item.name] = retrain(
            item, run.data, run.out, run.fit_settings(self.metric), patience=run.config.patience, seconds=seconds,
            tensorboard=run.config.tensorboard, verbose=run.config.verbose,
            label=f"{index + 1}/{len(self.plans)} {item.name}")
        run.state.document["retrained"].append(item.name)
        run.save()
        return True

    def _replan(self, index: int) -> None:
        """Size the plans from ``index`` on again at their configurations' speeds (`_speed`): the
        same epochs each, from their mean speed."""
        config = self.run.config
        waiting = self.plans[index:]
        speeds = [self._speed(plan["trial"]) for plan in waiting]
        if not all(speeds):
            return
        epochs = budget.replan_epochs(self.left(), sum(speeds) / len(speeds), waiting=len(waiting),
                                      first=self.plans[0]["epochs"], min_epochs=config.min_epochs,
                                      max_epochs=config.max_epochs)
        for plan in waiting:
            plan["epochs"] = epochs
        self.run.save()

    def _add(self, count: int, seconds: float, margin: float = MARGIN) -> None:
        """Plan ``count`` more models in ``seconds`` (a model added later trains no more epochs
        than the first ones: another member is worth more than more epochs)."""
        config = self.run.config
        cap = min(config.max_epochs, self.plans[0]["epochs"]) if self.plans else config.max_epochs
        picks = [self._pick(len(self.plans) + i) for i in range(count)]
        speeds = {r.number: self._speed(r) for r in picks}
        made = make_plans(picks, self.durations, self.run.data, seed=config.seed, seconds=seconds, max_epochs=cap,
                          trial_rows=self.trial_rows, first_index=len(self.plans),
                          per_epoch={n: s for n, s in speeds.items() if s}, margin=margin)
        self.plans.extend(dataclasses.asdict(p) for p in made)
        self._reserve_ensemble(len(self.plans))

    def _reserve_ensemble(self, planned: int) -> None:
        """The ensemble's floor for its members (`topnet.budget.ensemble_floor`): the ``planned``
        models at their configurations' speeds, the search's kept checkpoints at the slowest
        known one, and LightGBM."""
        speeds = [self._speed(self._pick(i)) for i in range(planned)]
        slowest = max((s for s in speeds if s), default=None)
        self.run.plan.set_floor("ensemble", budget.ensemble_floor(
            speeds + [slowest] * self.kept, classic=int("lightgbm" in self.later), predicted_rows=self.predicted_rows))
