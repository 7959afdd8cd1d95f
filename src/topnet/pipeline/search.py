"""Phases 3-4 of ``topnet run``: the learning-rate range test, then the search.

The range test runs on the search space's baseline model (``topnet train``'s default model) and
its suggestion becomes the baseline's learning rate: the first trial the search runs. The
search itself is ``topnet.tune.tune`` on the run's splits, with a budget-aware space and
fidelity: on a short CPU budget, image searches train on a subset of train rows and leave out
the widest convnets (a trial must be cheap enough for several to run); the configurations it
finds are retrained on every train row afterwards.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from topnet import budget
from topnet.configs.builders import build_model, complete_config
from topnet.configs.data_spec import model_arguments
from topnet.pipeline.config import RunConfig, class_weights, read_space
from topnet.pipeline.data import RunSplits
from topnet.report.schema import redact_url
from topnet.train import lr_find
from topnet.train.loop import resolve_device
from topnet.tune import tune
from topnet.tune.checkpoints import TrialRecord, select_top_k
from topnet.tune.defaults import default_space, image_space
from topnet.tune.results import TuneResult
from topnet.tune.space import SearchSpace
from topnet.tune.study_plots import param_importances

__all__ = ["search_space", "search_fidelity", "find_learning_rate", "run_search", "choose_configs", "tune_document", "baseline_record",
           "zero_shot_records",
           "study_name", "search_gain"]


def search_space(data: RunSplits, budget_s: float, device: str, *, space_file: str | None = None) -> SearchSpace:
    """The user's space (``space_file``, the run's ``space`` setting) as written, or the default
    space for the data, where CPU budgets under 4 hours leave out width-64 convnets (one such
    trial costs about four width-32 ones; a search needs room for a dozen before they pay).

    Raises:
        FileNotFoundError / ValueError: a missing or bad ``space_file`` (`topnet.pipeline.config.read_space`).
    """
    if space_file is not None:
        return read_space(space_file)
    if data.kind == "images":
        cheap = budget_s < 4 * 3600 and resolve_device(device).type == "cpu"
        return image_space(widths=(16, 32) if cheap else (16, 32, 64))
    return default_space(data.splits)


def search_fidelity(config: RunConfig, data: RunSplits) -> tuple[int, int | None]:
    """``(epochs per trial, train rows per trial or None for all)``: `topnet.budget.search_fidelity`
    for this run's budget, data and device.

    Example:
        >>> from types import SimpleNamespace as S
        >>> search_fidelity(RunConfig(budget="15m"), S(kind="images", splits=S(train=range(48000))))
        (3, 13500)
    """
    return budget.search_fidelity(config.budget_s, len(data.splits.train), images=data.kind == "images",
                                  cpu=resolve_device(config.device).type == "cpu", samples=config.search_samples,
                                  epochs=config.search_epochs)


def find_learning_rate(space: SearchSpace, data: RunSplits, config: RunConfig, seconds: float) -> dict[str, Any] | None:
    """The LR range test on the baseline model of ``space``, with ``config.lr_find_steps`` steps,
    or as many (30 to 300) as fit in ``seconds`` at the speed a 10-step probe measures (after a 10-step warm-up); ``lr_find.json``'s document, or
    None when fewer than 30 steps fit (a sweep that short says nothing)."""
    baseline = complete_config(dict(space.baseline or {"family": "mlp"}))
    splits = data.splits
    if isinstance(splits.train.x, dict) and baseline["family"] != "wide_and_deep":
        from topnet.data import flatten_tabular

        splits = flatten_tabular(splits)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    model = build_model(baseline, model_arguments(baseline["family"], splits.train, data.width))
    torch.random.set_rng_state(generator_state)
    options = dict(loss=data.loss, optimizer=baseline["optimizer"], start_lr=1e-6, end_lr=1.0,
                   batch_size=int(baseline["batch_size"]), seed=config.seed, device=config.device)
    num_steps = config.lr_find_steps
    if num_steps is None:
        lr_find(model, splits.train, num_steps=10, **options)  # warm-up: a first fit pays one-off set-up costs
        began = time.monotonic()
        lr_find(model, splits.train, num_steps=10, **options)  # the probe (the model is left as it was)
        num_steps = budget.lr_find_steps(seconds, time.monotonic() - began, probe_steps=10)
        if num_steps is None:
            return None
    result = lr_find(model, splits.train, num_steps=num_steps, **options)
    document = dataclasses.asdict(result)
    document.update(rule="valley", suggestion=result.suggestion, optimizer=baseline["optimizer"],
                    verdict=result.verdict, family=baseline["family"], num_steps=num_steps)
    return document


def with_baseline_lr(space: SearchSpace, lr: float | None) -> SearchSpace:
    """``space`` whose baseline trial uses ``lr`` (when the space's range admits it)."""
    param = space.params.get("lr")
    if lr is None or not space.baseline or param is None or not getattr(param, "low", 0) <= lr <= getattr(param, "high", 0):
        return space
    return dataclasses.replace(space, baseline={**space.baseline, "lr": float(lr)})


def run_search(space: SearchSpace, data: RunSplits, config: RunConfig, out: Any, seconds: float,
               max_trials: int | None = None, folds: int = 0) -> TuneResult:
    """``tune`` on the run's own splits (loaded once; the study records their `DataSpec` for
    workers) for ``seconds``, resuming the study if it exists; a trial may train for
    `topnet.budget.search_trial_seconds` (the baseline, first, is never cut). The trials use
    the run's class weights, from all of train (as the retrained networks do). With ``folds``
    (a bagged run) each trial is scored out of fold over train, valid and blend pooled, the
    rows its members are bagged on (in folds of the search's own, the same for every trial;
    `topnet.configs.FitSettings.folds`)."""
    epochs, samples = search_fidelity(config, data)
    return tune(space, data.for_search(config, samples), budget=max(seconds, 1.0), max_trials=max_trials,
                trial_seconds=budget.search_trial_seconds(seconds),
                class_weight=class_weights(config.class_weight, data.task, data.splits.train.y),
                sampler=config.sampler, pruner=config.pruner, storage=config.storage,
                study_name=study_name(config), seed=config.seed, out=out, epochs=epochs, keep_top_k=config.top_k,
                device=config.device, precision=config.precision, channels_last=data.channels_last,
                folds=folds, verbose=config.verbose)


def study_name(config: RunConfig) -> str:
    """``topnet-run`` in the run's own SQLite file; ``run-NAME`` (the --out folder's name) in a
    shared database, where several runs' studies live side by side.

    Example:
        >>> study_name(RunConfig(out="runs/fm60")), study_name(RunConfig(out="runs/fm60", storage="postgresql://db/x"))
        ('topnet-run', 'run-fm60')
    """
    from pathlib import Path

    return "topnet-run" if config.storage is None else f"run-{Path(config.out).resolve().name}"


def choose_configs(result: TuneResult, k: int, margin: float = 0.02) -> list[TrialRecord]:
    """The configurations to retrain: the diverse top-``k`` (the best of each family first)
    among the trials within ``margin`` of the best one (relative for minimised metrics). When
    fewer than ``k`` are that close, the best ones are repeated: the retrained copies differ
    by seed, which still makes a useful ensemble.

    Example:
        >>> from types import SimpleNamespace as S
        >>> rs = [TrialRecord(0, "COMPLETE", 0.91, {"family": "a"}), TrialRecord(1, "COMPLETE", 0.90, {"family": "a"}),
        ...       TrialRecord(2, "COMPLETE", 0.80, {"family": "b"})]
        >>> [r.number for r in choose_configs(S(records=rs, direction="maximize"), 3)]
        [0, 1, 0]
    """
    maximize = result.direction == "maximize"
    ranked = select_top_k(result.records, len(result.records), maximize=maximize, diverse=False)
    if not ranked:
        return []
    best = ranked[0].value
    tolerance = margin if maximize else margin * max(abs(best), 1e-12)
    close = [r for r in ranked if (best - r.value if maximize else r.value - best) <= tolerance]
    chosen = select_top_k(close, k, maximize=maximize, diverse=True)
    return [chosen[i % len(chosen)] for i in range(k)]


def baseline_record(space: SearchSpace) -> TrialRecord:
    """The space's baseline configuration as a stand-in trial (number -1), for a search that
    finished no trial."""
    return TrialRecord(-1, "COMPLETE", None, complete_config(dict(space.baseline or {"family": "mlp"})))


def zero_shot_records(space: SearchSpace) -> list[TrialRecord]:
    """What a zero-shot run retrains (`topnet.budget.zero_shot`): the space's portfolio entries
    that it holds, best measured first (numbers -2, -3, ...), then the baseline stand-in (-1);
    the retraining takes them in turn, each model with its own seed.

    Example:
        >>> from topnet.tune.space import Categorical
        >>> space = SearchSpace({"family": Categorical(["mlp"]), "width": Categorical([16, 32])},
        ...                     baseline={"family": "mlp", "width": 32}, portfolio=[{"family": "mlp", "width": 16}])
        >>> [(r.number, r.state, r.config["width"]) for r in zero_shot_records(space)]
        [(-2, 'PORTFOLIO', 16), (-1, 'COMPLETE', 32)]
    """
    baseline = dict(space.baseline or {"family": "mlp"})

    def config(entry: dict[str, Any]) -> dict[str, Any]:
        try:  # through the space, so that its rules apply as in a trial
            return complete_config(space.config_from_params({**baseline, **entry}))
        except ValueError:  # the entry and the baseline leave a parameter unset
            return complete_config({**baseline, **entry})

    return [TrialRecord(-2 - index, "PORTFOLIO", None, config(entry), params=dict(entry))
            for index, entry in enumerate(space.portfolio_trials())] + [baseline_record(space)]


def trial_seconds(result: TuneResult) -> dict[int, float]:
    """Each complete trial's duration in seconds, from the study."""
    durations = {}
    for trial in result.study.get_trials(deepcopy=False):
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            durations[trial.number] = (trial.datetime_complete - trial.datetime_start).total_seconds()
    return durations


def tune_document(result: TuneResult) -> dict[str, Any]:
    """``tune.json`` of the run directory (`topnet.report.schema.Tune`)."""
    durations = trial_seconds(result)
    trials = [{"number": r.number, "state": r.state, "value": r.value, "params": r.params,
               "family": r.family, "duration_s": durations.get(r.number)} for r in result.records]
    return {"metric": result.metric, "direction": result.direction, "trials": trials,
            "importances": param_importances(result.study), "counts": result.counts,
            "best_trial": result.best_trial, "best_value": result.best_value,
            "selection_bias": result.selection_bias, "storage": redact_url(result.storage), "study_name": result.study_name}


def search_gain(result: TuneResult, space: SearchSpace, members: list[dict[str, Any]],
                greater_is_better: bool, scored_on: str = "valid", zero_shot: bool = False) -> dict[str, Any]:
    """What the search bought, for ``metrics.json`` and the report.

    On valid (``scored_on``: ``"out-of-fold"`` where a bagged run's trials were scored out of
    fold), at the search's fidelity: the baseline trial (the space's baseline, tried first)
    against the best trial. On blend, after retraining: the mean score of the members retrained
    from the baseline's configuration against those from the configurations the search found
    (``members``: the rows of ``models.json``, which carry ``trial`` and ``blend``). A value is
    None where a side is missing (no search, or no member of that kind). With ``zero_shot`` (no
    trials: the portfolio was retrained directly) the "found" members are the portfolio's.

    Example:
        >>> from types import SimpleNamespace as S
        >>> from topnet.tune.space import Categorical
        >>> rs = [TrialRecord(0, "COMPLETE", 0.90, {"family": "a"}, params={"w": 1}),
        ...       TrialRecord(1, "COMPLETE", 0.93, {"family": "b"}, params={"w": 2})]
        >>> space = SearchSpace({"w": Categorical([1, 2])}, baseline={"w": 1})
        >>> gain = search_gain(S(records=rs, direction="maximize"), space,
        ...                    [{"trial": 0, "blend": 0.91}, {"trial": 1, "blend": 0.94}], True)
        >>> gain["baseline_trial"], gain["best_trial"], gain["blend_baseline"], gain["blend_found"]
        (0, 1, 0.91, 0.94)
    """
    complete = [r for r in result.records if r.state == "COMPLETE" and r.value is not None]
    baseline = dict(space.baseline or {})
    base = next((r for r in complete if baseline and all(r.params.get(k) == v for k, v in baseline.items())), None)
    maximize = result.direction == "maximize"
    best = (max if maximize else min)(complete, key=lambda r: r.value) if complete else None
    base_number = base.number if base is not None else -1  # -1: the baseline stand-in of a run without trials
    networks = [m for m in members  # retrained members (search checkpoints are trials, not retrained)
                if isinstance(m.get("trial"), int) and not str(m.get("name", "")).startswith("search-")]
    from_base = [m["blend"] for m in networks if m["trial"] == base_number]
    found = [m["blend"] for m in networks if m["trial"] != base_number]
    mean = (lambda values: round(float(sum(values) / len(values)), 6) if values else None)
    blend_base, blend_found = mean(from_base), mean(found)
    better = None
    if blend_base is not None and blend_found is not None:
        better = blend_found > blend_base if greater_is_better else blend_found < blend_base
    return {"trials": len(complete), "zero_shot": zero_shot, "scored_on": scored_on, "baseline_trial": base.number if base else None,
            "baseline_valid": base.value if base else None, "best_trial": best.number if best else None,
            "best_valid": best.value if best else None,
            "best_is_baseline": bool(best is not None and base is not None and best.number == base.number),
            "members_from_baseline": len(from_base), "members_from_search": len(found),
            "blend_baseline": blend_base, "blend_found": blend_found, "search_members_better_on_blend": better}
