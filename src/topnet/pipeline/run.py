"""``topnet run``: the whole recipe of the two chapters, within a time budget, resumable.

Phases (``../shared/DESIGN.md``): load and split → standardise → LR range test → search →
retrain the top-k diverse configurations → LightGBM → ensemble (combiner picked by blend
log-loss) → MC dropout and temperature scaling → one evaluation on test → report. The budget is
split across the phases (`BudgetPlan`); ``metrics.json`` records what each got and used.

State: ``state.json`` records each finished phase, the retraining plan and the time spent. A
killed run started again with ``resume=True`` skips the finished phases, resumes the study
(finished trials are kept) and the model that was training (from its `BackupAndRestore`
directory), and counts the time already spent against the budget. ``metrics.json`` is written
last but the report: its presence marks a finished run, which is never overwritten.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from topnet.io import atomic_writer, write_json
from topnet.pipeline.budget import PHASE_FLOORS, BudgetPlan, ensemble_floor, phase_shares
from topnet.pipeline.config import RunConfig
from topnet.pipeline.data import RunSplits, prepare
from topnet.pipeline.evaluate import (evaluate_on_test, fit_ensemble, mc_dropout_scores, network_members,
                                      write_ensemble_summary)
from topnet.pipeline.retrain import (MARGIN, PROBE_MARGIN, RetrainPlan, epoch_seconds, load_retrained,
                                     make_plans, plan_epochs, probe_epoch_seconds, replan_epochs, retrain,
                                     search_checkpoint_folders, search_checkpoints, train_lightgbm)
from topnet.pipeline.search import (baseline_record, choose_configs, find_learning_rate, run_search,
                                    search_fidelity, search_gain, search_space, study_name, trial_seconds,
                                    tune_document, with_baseline_lr)
from topnet.report.run_dir import environment
from topnet.report.schema import redact, redact_url
from topnet.tune.objective import FitSettings

__all__ = ["run", "RunState"]

_KEEP_ON_RESUME = ("verbose", "device")  # settings a resumed run may change


class RunState:
    """``state.json``: finished phases, the retraining plan, the seconds spent (written atomically)."""

    def __init__(self, directory: Path):
        self.file = directory / "state.json"
        self.document: dict[str, Any] = {"phases": {}, "elapsed_s": 0.0, "retrain_plans": None, "retrained": []}
        if self.file.exists():
            self.document.update(json.loads(self.file.read_text(encoding="utf-8")))

    def time_spent(self) -> float:
        """Seconds the run spent before: as of the last save, plus the time until its last
        written file (a killed phase's trials and epochs write files; its time counts too)."""
        spent = float(self.document["elapsed_s"])
        if self.file.exists():
            saved = self.file.stat().st_mtime
            newest = max((p.stat().st_mtime for p in self.file.parent.rglob("*") if p.is_file()), default=saved)
            spent += max(0.0, newest - saved)
        return spent

    def done(self, phase: str) -> bool:
        return self.document["phases"].get(phase, {}).get("status") in ("done", "skipped")

    def save(self, plan: BudgetPlan) -> None:
        self.document["phases"] = {k: v for k, v in plan.phases.items() if v.get("status") != "running"}
        self.document["elapsed_s"] = round(plan.elapsed(), 3)
        write_json(self.file, self.document)


def _open_run_dir(config: RunConfig, resume: bool, overwrite: bool) -> Path:
    out = Path(config.out)
    finished = (out / "metrics.json").exists()
    unfinished = (out / "state.json").exists() or (out / "config.json").exists()  # killed before its first phase, too
    if overwrite and (finished or unfinished):
        shutil.rmtree(out)
    elif finished:
        raise FileExistsError(f"--out {str(out)!r} holds a finished run (metrics.json exists); choose another "
                              "directory, or pass --overwrite to replace it")
    elif unfinished and not resume:
        raise FileExistsError(f"--out {str(out)!r} holds an unfinished run; pass --resume to continue it, "
                              "--overwrite to start it again, or choose another --out")
    elif unfinished:
        saved = json.loads((out / "config.json").read_text(encoding="utf-8")) if (out / "config.json").exists() else {}
        changed = sorted(k for k, v in redact(config.to_dict()).items()
                         if k not in _KEEP_ON_RESUME and k in saved and saved[k] != v)
        if changed:
            raise ValueError(f"--resume: settings {changed} differ from the run in {str(out)!r} "
                             f"({', '.join(f'{k}={saved.get(k)!r}' for k in changed)}); resume with the same "
                             "settings, or start a new run with another --out")
    elif any(out.iterdir() if out.is_dir() else ()):
        raise FileExistsError(f"--out {str(out)!r} is not empty and holds no topnet run; choose another directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _say(config: RunConfig, plan: BudgetPlan, phase: str, allowance: float | None = None) -> None:
    """The phase line: plain on a pipe or a log file, a bold rule on a terminal (``rich``)."""
    if not config.verbose:
        return
    share = f" ({allowance:.0f}s of it)" if allowance is not None else ""
    line = f"{phase}: {plan.remaining():.0f}s of the {plan.budget_s:.0f}s budget left{share}"
    if sys.stdout.isatty():
        from rich.console import Console

        Console().rule(f"[bold]{line}", align="left")
    else:
        print(f"[run] {line}", flush=True)


def run(config: RunConfig, *, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Run the whole job into ``config.out``; returns ``metrics.json``'s document.

    Args:
        config: the settings (`resolve_config` builds them from TOML and ``--set``).
        resume: continue the unfinished run in ``config.out``.
        overwrite: delete a run already in ``config.out`` first.

    Raises:
        FileExistsError: ``config.out`` holds a finished run (or an unfinished one, without
            ``resume``).
        ValueError: resuming with other settings; bad data; what the phases raise.

    Example (not run by the doctests: it takes the budget):
        metrics = run(RunConfig(budget="15m", out="runs/fm"))
        metrics["test"]["accuracy"]
    """
    out = _open_run_dir(config, resume, overwrite)
    state = RunState(out)
    shares = phase_shares(config.budget_s)
    plan = BudgetPlan(config.budget_s, shares, floors=PHASE_FLOORS, done={k: v for k, v in state.document["phases"].items()
                                                     if k in shares and state.done(k)},
                      used_before=state.time_spent())
    write_json(out / "config.json", redact(config.to_dict()))
    if not (out / "environment.json").exists():
        write_json(out / "environment.json", environment(config.seed))
    _say(config, plan, "loading the data")
    plan.start("data")
    data = prepare(config)
    write_json(out / "dataset.json", data.info)
    write_json(out / "standardizer.json", data.standardizers)
    plan.finish("data")
    space = search_space(data, config.budget_s, config.device, space_file=config.space)
    space = with_baseline_lr(space, _lr_find_phase(config, plan, state, out, space, data))
    result = _search_phase(config, plan, state, out, space, data)
    models, records = _retrain_phase(config, plan, state, out, result, data, space)
    kept, kept_records = search_checkpoints(out / "search")
    taken = {f"search-t{r['trial']}" for r in records.values() if r.get("weights", "retrained") != "retrained"}
    models.update({name: model for name, model in kept.items() if name not in taken})  # not twice in the ensemble
    records.update({name: record for name, record in kept_records.items() if name not in taken})
    lightgbm = _lightgbm_phase(config, plan, state, out, data, records)
    return _finish(config, plan, state, out, data, models, records, lightgbm, (result, space))


def _lr_find_phase(config: RunConfig, plan: BudgetPlan, state: RunState, out: Path, space: Any,
                   data: RunSplits) -> float | None:
    if not state.done("lr_find"):
        # its share, but at least a few seconds on short budgets (a sweep is worth more than a trial)
        allowance = max(plan.start("lr_find"), min(0.1 * plan.remaining(), 15.0))
        _say(config, plan, "learning-rate range test", allowance)
        document = find_learning_rate(space, data, config, seconds=allowance)
        if document is None:
            plan.finish("lr_find", status="skipped", reason="fewer than 30 steps fit in its share of the budget")
        else:
            write_json(out / "lr_find.json", document)
            plan.finish("lr_find", suggestion=document["suggestion"], num_steps=document["num_steps"])
            if config.verbose:
                print(f"[run] lr_find: suggests lr={document['suggestion']:.3g} for {document['optimizer']} "
                      f"({document['verdict']})", flush=True)
        state.save(plan)
    if not (out / "lr_find.json").exists():
        return None
    return json.loads((out / "lr_find.json").read_text(encoding="utf-8")).get("suggestion")


def _search_phase(config: RunConfig, plan: BudgetPlan, state: RunState, out: Path, space: Any,
                  data: RunSplits) -> Any:
    if state.done("search"):  # summarise the finished study without running trials
        return run_search(space, data, config, out / "search", seconds=60.0, max_trials=0)
    if not config.search:  # the ablation: the search's time goes to retraining the baseline
        plan.skip("search", "search = false")
        state.save(plan)
        return run_search(space, data, config, out / "search", seconds=60.0, max_trials=0)
    allowance = plan.start("search")
    epochs, samples = search_fidelity(config, data)
    _say(config, plan, f"search ({epochs} epochs per trial on {samples or len(data.splits.train)} train rows)", allowance)
    if config.storage is not None and config.verbose:
        print(f"[run] other machines can join the search: topnet worker --study {study_name(config)} "
              f"--storage {redact_url(config.storage)}", flush=True)
    result = run_search(space, data, config, out / "search", seconds=allowance)
    write_json(out / "tune.json", tune_document(result))
    plan.finish("search", trials=result.counts, best_value=result.best_value)
    state.save(plan)
    if result.best_trial is None and config.verbose:
        print(f"[run] the search finished no trial in {allowance:.0f}s: retraining the baseline configuration "
              "(a larger --budget lets the search work)", flush=True)
    return result


def _retrain_phase(config: RunConfig, plan: BudgetPlan, state: RunState, out: Path, result: Any,
                   data: RunSplits, space: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Retrain ``ensemble_size`` models (fewer when each could not train ``min_epochs`` epochs),
    the chosen configurations in turn, each with its own seed; while the phase has time for
    another model (models that stop early leave some), add one more."""
    finished = state.done("retrain")
    allowance = plan.allowance("retrain") if finished else plan.start("retrain")
    chosen, durations = choose_configs(result, config.top_k) or [baseline_record(space)], trial_seconds(result)
    _, samples = search_fidelity(config, data)
    rows = samples or len(data.splits.train)

    def more(seconds: float, count: int, per_epoch: float | None = None,
             margin: float = MARGIN) -> list[dict[str, Any]]:
        # a model added later trains no more epochs than the first ones: a 4-minute H200 run gave
        # the 46 epochs left to one model, whose cosine schedule early stopping cut at epoch 18
        # with the rate still high (best valid of the run, 0.9402, and 92.79% test); on
        # Fashion-MNIST a member at 10 epochs scores as well as at 20, and another member adds more
        cap = min(config.max_epochs, plans[0]["epochs"]) if plans else config.max_epochs
        made = make_plans([chosen[(len(plans) + i) % len(chosen)] for i in range(count)], durations, data,
                          seed=config.seed, seconds=seconds, max_epochs=cap, trial_rows=rows,
                          first_index=len(plans), per_epoch=per_epoch, margin=margin)
        return [dataclasses.asdict(p) for p in made]

    plans: list[dict[str, Any]] = state.document.get("retrain_plans") or []
    # what the later phases need: LightGBM its nominal share, the ensemble its share or its floor
    # for the members it will have; retraining may use all time above it (time they would not use,
    # passed on to them, left the run 17% under a 60-minute budget)
    later = [name for name in ("lightgbm", "ensemble") if name != "lightgbm" or config.lightgbm]
    kept = len(search_checkpoint_folders(out / "search"))
    models, records, began = {}, {}, time.monotonic()

    def keep_for(planned: int) -> None:
        # the ensemble's floor for its members: planned retrained models, kept checkpoints, LightGBM
        plan.set_floor("ensemble", ensemble_floor(planned + kept + int(config.lightgbm)))

    def left() -> float:
        return max(allowance - (time.monotonic() - began), plan.remaining() - plan.reserve(later))
    if not plans:  # ensemble_size models, or as many as can each train min_epochs epochs (at least one)
        settings = FitSettings(metric=result.metric, device=config.device, precision=config.precision,
                               channels_last=data.kind == "images")
        per_epoch = probe_epoch_seconds(chosen[0].config, data, settings, seed=config.seed)
        estimate = epoch_seconds(chosen[0], durations, rows, len(data.splits.train))
        state.document["retrain_probe"] = {"epoch_seconds": per_epoch, "from_trials": estimate,
                                           "seconds": round(time.monotonic() - began, 3)}
        margin = PROBE_MARGIN if per_epoch else MARGIN
        per_epoch = per_epoch or estimate
        # counted as plan_epochs counts (with its margin), so each model really gets min_epochs
        keep_for(config.ensemble_size)
        fits = (plan_epochs(left(), per_epoch, 10**6, margin) // config.min_epochs
                if per_epoch else config.top_k)
        fits = 1 if chosen[0].number < 0 else fits  # the baseline stand-in: one model first, more if time is left
        count = max(1, min(config.ensemble_size, fits))
        keep_for(count)
        plans.extend(more(max(1.0, left()), count, per_epoch, margin))
        state.document["retrain_plans"], state.document["retrain_planned"] = plans, len(plans)
        state.save(plan)
    keep_for(len(plans))
    index = 0
    while index < len(plans):
        item, trained = RetrainPlan(**plans[index]), False
        if item.name in state.document["retrained"]:
            models[item.name], records[item.name] = load_retrained(out, item.name)
        else:
            seconds = max(1.0, left()) / (len(plans) - index)
            _say(config, plan, f"retraining {item.name} ({item.epochs} epochs at most)", seconds)
            models[item.name], records[item.name] = retrain(
                item, data, out, metric=result.metric, patience=config.patience, seconds=seconds, device=config.device,
                precision=config.precision, channels_last=data.kind == "images",
                tensorboard=config.tensorboard, verbose=config.verbose, label=f"{index + 1}/{len(plans)} {item.name}")
            state.document["retrained"].append(item.name)
            state.save(plan)
            trained = True
        index += 1
        # the slowest epoch measured so far; one more model when it can train min_epochs of them
        per_epoch = max(r.get("seconds", 0.0) / max(r.get("epochs_run") or 1, 1) for r in records.values())
        if trained and index < len(plans):
            # the planned models not yet started, sized again at the speed just measured
            epochs = replan_epochs(left(), per_epoch, waiting=len(plans) - index, first=plans[0]["epochs"],
                                   min_epochs=config.min_epochs, max_epochs=config.max_epochs)
            for waiting in plans[index:]:
                waiting["epochs"] = epochs
            state.save(plan)
        if (index == len(plans) and not finished and len(plans) < 2 * config.ensemble_size
                and plan_epochs(left(), per_epoch, 10**6) >= config.min_epochs):
            plans.extend(more(left(), 1, per_epoch))
            keep_for(len(plans))
            state.save(plan)
    if not finished:
        plan.finish("retrain", models=list(models))
        state.save(plan)
    return models, records


def _lightgbm_phase(config: RunConfig, plan: BudgetPlan, state: RunState, out: Path, data: RunSplits,
                    records: dict[str, dict[str, Any]]) -> Any:
    from topnet.ensemble.members import load_member

    on_disk = isinstance(data.splits.train.x, np.memmap)  # its float64 design matrix would not fit in memory
    if not config.lightgbm or on_disk:
        if not state.done("lightgbm"):
            plan.skip("lightgbm", "lightgbm = false" if not config.lightgbm else
                      "the training images are larger than a quarter of memory and stay on disk")
        return None
    folder = out / "models" / "lightgbm"
    if state.done("lightgbm"):
        member_config = json.loads((folder / "member.json").read_text(encoding="utf-8"))
        records["lightgbm"] = member_config.pop("record", {})
        return load_member(folder, member_config)
    allowance = plan.start("lightgbm")
    _say(config, plan, "LightGBM", allowance)
    member, record = train_lightgbm(data, out, seed=config.seed, seconds=allowance)
    write_json(folder / "member.json", {**member.config(), "record": record})
    records["lightgbm"] = record
    plan.finish("lightgbm", trees=record["trees"])
    state.save(plan)
    return member


def _finish(config: RunConfig, plan: BudgetPlan, state: RunState, out: Path, data: RunSplits,
            models: dict[str, Any], records: dict[str, dict[str, Any]], lightgbm: Any,
            search: tuple[Any, Any]) -> dict[str, Any]:
    from topnet.report.html import build_report

    allowance = plan.start("ensemble")
    _say(config, plan, "ensemble, calibration and the test split", allowance)
    members = network_members(models, records, data, config.device) + ([lightgbm] if lightgbm is not None else [])
    ensemble = fit_ensemble(members, data, config.seed)
    if (out / "ensemble").exists():
        shutil.rmtree(out / "ensemble")  # a resumed run's half-written ensemble
    ensemble.save(out / "ensemble")
    mc = mc_dropout_scores(members, data, config.mc_samples, allowance / 2, config.seed)
    write_json(out / "ensemble.json", write_ensemble_summary(ensemble, data, out / "ensemble", mc))
    evaluation = evaluate_on_test(ensemble, data, records)  # the only time test is read
    for row in evaluation["models"]["models"]:
        row.update({k: v for k, v in mc.get(row["name"], {}).items() if k.startswith("blend_nll")})
    write_json(out / "models.json", evaluation["models"])
    if evaluation["calibration"] is not None:
        write_json(out / "calibration.json", evaluation["calibration"])
    (out / "predictions").mkdir(exist_ok=True)
    with atomic_writer(out / "predictions" / "test.npz", "wb") as handle:
        np.savez(handle, **evaluation["predictions"])
    plan.finish("ensemble", combiner=ensemble.combiner_name_)
    table = evaluation["models"]
    metrics = {**evaluation["metrics"], "budget_s": plan.budget_s, "elapsed_s": round(plan.elapsed(), 3),
               "search": search_gain(*search, table["models"], table["greater_is_better"]), "phases": plan.phases}
    write_json(out / "metrics.json", metrics)
    state.save(plan)
    build_report(out)
    if config.verbose:
        test, single = metrics["test"], metrics["best_single"]
        key = "accuracy" if "accuracy" in test else "rmse"
        print(f"[run] test {key}: ensemble {test[key]:.4f}, best single ({single['name']}) {single[key]:.4f}; "
              f"{metrics['elapsed_s']:.0f}s of {plan.budget_s:.0f}s; report: {out / 'report.html'}", flush=True)
    return metrics
