"""``topnet run``: the whole recipe of the two chapters, within a time budget, resumable.

Read `run` top-down: one function per phase, in the order they run (``../shared/DESIGN.md``):
load and split → LR range test → search → retrain the chosen configurations → LightGBM →
ensemble (combiner picked by blend log-loss), MC dropout and temperature scaling → one
evaluation on test → report. A bagged table (`topnet.pipeline.bagged`) trains its classic
members before the networks, which then take the time the classic members left. Each phase
takes the `Run` (settings, budget plan, state, directory, data); the time rules are
`topnet.budget`'s, and ``metrics.json`` records what each phase got and used.

A killed run started again with ``resume=True`` skips the finished phases, resumes the study
(finished trials are kept) and the model that was training (from its `BackupAndRestore`
directory), and counts the time already spent against the budget. ``metrics.json`` is written
last but the report: its presence marks a finished run, which is never overwritten.
"""
from __future__ import annotations

import json
import shutil
import time
from typing import Any

import numpy as np

from topnet import budget
from topnet.ensemble.member_base import Member
from topnet.io import atomic_writer, write_json
from topnet.pipeline.config import RunConfig
from topnet.pipeline.data import prepare
from topnet.pipeline.evaluate import (
    evaluate_on_test,
    fit_ensemble,
    mc_dropout_scores,
    network_members,
    write_ensemble_summary,
)
from topnet.pipeline.bagged import (bag_classic, bag_network, bagging_folds, classic_kinds, distinct_configs, load_bagged,
                                    member_name, more_configs, pool_of, refusals, save_bagged, untried_configs)
from topnet.pipeline.retrain import (Retraining, probe_epoch_seconds, retrain_patience, search_checkpoints, train_lightgbm,
                                     trial_epoch_seconds)
from topnet.pipeline.run_state import Run
from topnet.pipeline.search import (
    baseline_record,
    choose_configs,
    find_learning_rate,
    run_search,
    search_fidelity,
    search_gain,
    search_space,
    study_name,
    trial_seconds,
    tune_document,
    with_baseline_lr,
    zero_shot_records,
)
from topnet.report.run_dir import environment
from topnet.report.schema import redact, redact_url
from topnet.seeding import derive_seed
from topnet.train.loop import resolve_device

__all__ = ["run"]


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
    job = Run.open(config, resume=resume, overwrite=overwrite)
    _load_data(job)
    space = search_space(job.data, config.budget_s, config.device, space_file=config.space)
    space = with_baseline_lr(space, _lr_find_phase(job, space))
    result = _search_phase(job, space)
    if job.pool is not None:  # a table, bagged: every member is k fold models (pipeline/bagged.py)
        chosen = _bagged_choice(job, result, space)
        records: dict[str, dict[str, Any]] = {}
        classic = _bagged_classic_phase(job, records)  # first: the networks then take the time it leaves
        members = _bagged_retrain_phase(job, result, space, chosen, records)
    else:
        members, records = _retrain_phase(job, result, space)
        _add_search_checkpoints(job, members, records)
        lightgbm = _lightgbm_phase(job, records)
        classic = [lightgbm] if lightgbm is not None else []
    return _ensemble_phase(job, members, records, classic, (result, space))


def _load_data(job: Run) -> None:
    """Phase 1: the settings and the machine on record; the data loaded, split, standardised."""
    write_json(job.out / "config.json", redact(job.config.to_dict()))
    if not (job.out / "environment.json").exists():
        write_json(job.out / "environment.json", environment(job.config.seed))
    job.say("loading the data")
    job.plan.start("data")
    job.data = prepare(job.config)
    job.class_weight  # noqa: B018 -- computed now, so that a setting the target cannot take stops here
    pooled = sum(len(part) for part in (job.data.splits.train, job.data.splits.valid, job.data.splits.blend)
                 if part is not None)
    job.folds = bagging_folds(job.config.bagging, job.data.kind, pooled)
    if job.folds:  # a small table: k-fold bagged members, and the classic members get a larger share
        job.pool = pool_of(job.data)
        job.plan.shares = budget.bagged_phase_shares(job.config.budget_s)
    write_json(job.out / "dataset.json", job.data.info)
    write_json(job.out / "standardizer.json", job.data.standardizers)
    if job.data.text_vectorizers:  # the vocabularies fitted on train, for `topnet predict`
        write_json(job.out / "text_vectorizer.json", job.data.text_vectorizers)
    job.plan.finish("data")


def _lr_find_phase(job: Run, space: Any) -> float | None:
    """Phase 2: the LR range test on the baseline model; its suggestion is the baseline's rate."""
    if not job.done("lr_find"):
        allowance = budget.lr_find_seconds(job.plan.start("lr_find"), job.plan.remaining())
        job.say("learning-rate range test", allowance)
        document = find_learning_rate(space, job.data, job.config, seconds=allowance)
        if document is None:
            job.plan.finish("lr_find", status="skipped", reason="fewer than 30 steps fit in its share of the budget")
        else:
            write_json(job.out / "lr_find.json", document)
            job.plan.finish("lr_find", suggestion=document["suggestion"], num_steps=document["num_steps"])
            job.note(f"lr_find: suggests lr={document['suggestion']:.3g} for {document['optimizer']} "
                     f"({document['verdict']})")
        job.save()
    if not (job.out / "lr_find.json").exists():
        return None
    return json.loads((job.out / "lr_find.json").read_text(encoding="utf-8")).get("suggestion")


def _search_phase(job: Run, space: Any) -> Any:
    """Phase 3: the search (or, when it is done or turned off, the study's summary)."""
    config, search_dir = job.config, job.out / "search"
    if job.done("search"):  # summarise the finished study without running trials
        return run_search(space, job.data, config, search_dir, seconds=60.0, max_trials=0, folds=job.folds)
    zero_shot = _zero_shot(job, space)
    if not config.search or zero_shot:  # the trials' time goes to retraining (the baseline; zero-shot: the portfolio too)
        bagged = job.pool is not None
        job.plan.skip("search", _skip_reason(config.search, bagged=bagged))
        if zero_shot:
            job.note("no search trials at this budget: " + (
                "bagging the baseline, then the portfolio's configurations and random draws while time is left"
                if bagged else f"retraining the portfolio's {len(space.portfolio_trials())} configuration(s) and "
                "the baseline in turn") + " (--set search=true searches anyway)")
        job.save()
        result = run_search(space, job.data, config, search_dir, seconds=60.0, max_trials=0, folds=job.folds)
        if zero_shot:  # the default's run directory holds every file, an empty study's tune.json too
            write_json(job.out / "tune.json", tune_document(result))
        return result
    allowance = job.plan.start("search")
    epochs, samples = search_fidelity(config, job.data)
    rows = f"{samples or len(job.data.splits.train)} train rows" if not job.folds else \
        f"{job.folds} folds of the {len(job.pool.dataset)} pooled rows, scored out of fold"
    job.say(f"search ({epochs} epochs per trial on {rows})", allowance)
    if config.storage is not None:
        job.note(f"other machines can join the search: topnet worker --study {study_name(config)} "
                 f"--storage {redact_url(config.storage)}")
    result = run_search(space, job.data, config, search_dir, seconds=allowance, folds=job.folds)
    write_json(job.out / "tune.json", tune_document(result))
    job.plan.finish("search", trials=result.counts, best_value=result.best_value)
    job.save()
    if result.best_trial is None:
        job.note(f"the search finished no trial in {allowance:.0f}s: retraining the baseline configuration "
                 "(a larger --budget lets the search work)")
    return result


def _skip_reason(search: Any, *, bagged: bool) -> str:
    """Why the search phase runs no trials: turned off, or the zero-shot rule (`_zero_shot`)."""
    if not search:
        return "search = false"
    if bagged:
        return "zero-shot: a bagged table on a CPU under 30 minutes bags the baseline, the portfolio and random draws " \
            "without trials"
    return "zero-shot: images on a CPU under 30 minutes retrain the portfolio without trials"


def _zero_shot(job: Run, space: Any) -> bool:
    """``search = "auto"`` where `topnet.budget.zero_shot` skips the trials: the default space
    (a user's space is searched), with a portfolio unless the table is bagged (its networks'
    phase draws untried configurations of the space itself)."""
    config, bagged = job.config, job.pool is not None
    return (config.search == "auto" and config.space is None and (bagged or bool(space.portfolio_trials()))
            and budget.zero_shot(config.budget_s, images=job.data.kind == "images", bagged=bagged,
                                 cpu=resolve_device(config.device).type == "cpu"))


def _retrain_phase(job: Run, result: Any, space: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Phase 4: retrain the chosen configurations on every train row (`Retraining`): the
    search's choice, or without trials the portfolio and the baseline (zero-shot), or the
    baseline alone."""
    finished = job.done("retrain")
    if not finished:
        job.plan.start("retrain")
    chosen = (choose_configs(result, job.config.top_k)
              or (zero_shot_records(space) if _zero_shot(job, space) else [baseline_record(space)]))
    _, samples = search_fidelity(job.config, job.data)
    retraining = Retraining(job, chosen, trial_seconds(result), samples or len(job.data.splits.train), result.metric)
    if not retraining.plans:
        retraining.plan_first()
    models, records = retraining.train_all(add_more=not finished)
    if not finished:
        job.plan.finish("retrain", models=list(models))
        job.save()
    return models, records


def _add_search_checkpoints(job: Run, models: dict[str, Any], records: dict[str, dict[str, Any]]) -> None:
    """The search's kept trials join the ensemble as members ``search-tN`` (they cost nothing
    more to train), except those a retrained model already took the weights of."""
    kept, kept_records = search_checkpoints(job.out / "search")
    taken = {f"search-t{r['trial']}" for r in records.values() if r.get("weights", "retrained") != "retrained"}
    models.update({name: model for name, model in kept.items() if name not in taken})
    records.update({name: record for name, record in kept_records.items() if name not in taken})


def _bagged_choice(job: Run, result: Any, space: Any) -> list[Any]:
    """The configurations a bagged run trains (the search's choice without repeats, or the
    baseline), and the ensemble's floor for them and the classic members."""
    chosen = distinct_configs(choose_configs(result, job.config.top_k) or [baseline_record(space)])
    kinds = classic_kinds(job.class_weight) if job.config.lightgbm else []
    job.plan.set_floor("ensemble", budget.bagged_ensemble_floor(len(chosen) + len(kinds), len(job.pool.dataset)))
    return chosen


def _bagged_retrain_phase(job: Run, result: Any, space: Any, chosen: list[Any],
                          records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Phase 5, bagged: each chosen configuration as k fold models on the pool, an equal share
    of what the phase has left each (`topnet.pipeline.bagged.bag_network`): it runs after the
    classic members and takes the time they left, up to the ensemble's floor. While the phase
    still has a tenth of its time (at least 5 s) after them, the search's next configurations
    are bagged too (`more_configs`), then configurations the search did not reach
    (`untried_configs`: the space's portfolio, then random draws), up to ``2 × top_k`` in all."""
    config, data, pool = job.config, job.data, job.pool
    finished = job.done("retrain")
    if not finished:
        job.plan.start("retrain")
    later = ["ensemble"]
    per_epoch = probe_epoch_seconds(chosen[0].config, data, job.fit_settings(result.metric), seed=config.seed)
    trial_rows = len(pool.dataset) * (job.folds - 1) // job.folds  # a fold's rows: the trials were scored out of fold
    per_epoch = per_epoch or trial_epoch_seconds(chosen[0], trial_seconds(result), trial_rows, len(data.splits.train))
    members = {}
    later_configs = more_configs(result, chosen, 2 * config.top_k)
    later_configs += untried_configs(space, result, 2 * config.top_k - len(chosen) - len(later_configs),
                                     seed=derive_seed(config.seed, "untried") % 2**31,
                                     epochs=search_fidelity(config, data)[0])
    for index, record in enumerate(chosen + later_configs):
        name = member_name(index, record)
        folder = job.out / "models" / name
        if name in job.state.document["retrained"]:
            members[name], records[name] = load_bagged(folder, data, pool, config.device)
            continue
        left = job.plan.left_in_phase("retrain", later)
        if finished or (index >= len(chosen) and left < max(5.0, 0.1 * job.plan.phases["retrain"]["budget_s"])):
            continue  # a later configuration: only while the phase has time to spare
        seconds = max(1.0, left) / max(len(chosen) - index, 1)
        job.say(f"retraining {name} as {job.folds} fold models", seconds)
        started = time.monotonic()
        settings = job.fit_settings(result.metric, patience=retrain_patience(record.config, config.patience))
        members[name] = bag_network(record.config, settings, data, pool, name=name, num_folds=job.folds,
                                    seconds=seconds, per_epoch=per_epoch, max_epochs=config.max_epochs,
                                    seed=derive_seed(config.seed, "retrain", index) % 2**31, device=config.device,
                                    histories=job.out / "histories")
        records[name] = {"name": name, "trial": record.number if record.number >= -1 else None,
                         "family": record.family, "folds": job.folds,
                         "seconds": round(time.monotonic() - started, 3), "config": record.config}
        save_bagged(members[name], folder, records[name])
        job.state.document["retrained"].append(name)
        job.save()
    if not finished:
        job.plan.finish("retrain", models=list(members), folds=job.folds)
        job.save()
    return members


def _bagged_classic_phase(job: Run, records: dict[str, dict[str, Any]]) -> list[Any]:
    """Phase 4, bagged: the classic members (`topnet.pipeline.bagged.classic_kinds`: LightGBM,
    CatBoost, extra trees, random forest, k-NN, linear, XGBoost) as k fold models on the pool,
    each with an equal share of what the phase has left (repeating its bagging while that share
    has room); a member a killed run finished is loaded."""
    config = job.config
    if not config.lightgbm:
        if not job.done("lightgbm"):
            job.plan.skip("lightgbm", "lightgbm = false")
        return []
    kinds, finished = classic_kinds(job.class_weight), job.state.document.setdefault("classic", [])
    if not job.done("lightgbm"):
        job.plan.start("lightgbm")
    members = []
    for index, kind in enumerate(kinds):
        folder = job.out / "models" / kind
        if kind in finished:
            member, records[kind] = load_bagged(folder, job.data, job.pool, config.device)
            members.append(member)
            continue
        if job.done("lightgbm"):  # the phase finished without this kind (its library refused the table)
            continue
        seconds = max(0.5, job.plan.left_in_phase("lightgbm", ["retrain", "ensemble"])) / (len(kinds) - index)
        job.say(f"{kind} as {job.folds} fold models", seconds)
        try:
            member = bag_classic(kind, job.data, job.pool, num_folds=job.folds, seconds=seconds,
                                 seed=derive_seed(config.seed, "classic", kind) % 2**31, class_weight=job.class_weight,
                                 threads=config.threads)
        except refusals() as error:  # one library refusing this table must not end the run
            job.note(f"{kind}: left out ({type(error).__name__}: {error})")
            continue
        records[kind] = {"name": kind, "family": kind, "folds": job.folds, "sets": member.sets_,
                         "seconds": member.seconds_}
        if kind in ("lightgbm", "catboost", "xgboost"):
            records[kind]["trees"] = [m.best_iteration_ for m in member.members_]
        save_bagged(member, folder, records[kind])
        finished.append(kind)
        members.append(member)
        job.save()
    if not job.done("lightgbm"):
        job.plan.finish("lightgbm", members=[m.name for m in members])
        job.save()
    return members


def _lightgbm_phase(job: Run, records: dict[str, dict[str, Any]]) -> Any:
    """Phase 5: a LightGBM member (skipped when turned off or when the data stays on disk)."""
    from topnet.ensemble.members import load_member

    config, plan, out, data = job.config, job.plan, job.out, job.data
    if not config.lightgbm or data.on_disk:  # a float64 design matrix of data on disk would not fit in memory
        if not job.done("lightgbm"):
            plan.skip("lightgbm", "lightgbm = false" if not config.lightgbm else
                      "the training images are larger than a quarter of memory and stay on disk")
        return None
    folder = out / "models" / "lightgbm"
    if job.done("lightgbm"):
        member_config = json.loads((folder / "member.json").read_text(encoding="utf-8"))
        records["lightgbm"] = member_config.pop("record", {})
        return load_member(folder, member_config)
    allowance = plan.start("lightgbm")
    job.say("TF-IDF + linear model" if data.kind == "text" else "LightGBM", allowance)
    member, record = train_lightgbm(data, out, seed=config.seed, seconds=allowance, class_weight=job.class_weight,
                                    threads=config.threads)
    write_json(folder / "member.json", {**member.config(), "record": record})
    records["lightgbm"] = record
    plan.finish("lightgbm", trees=record["trees"])
    job.save()
    return member


def _ensemble_phase(job: Run, models: dict[str, Any], records: dict[str, dict[str, Any]], classic: list[Any],
                    search: tuple[Any, Any]) -> dict[str, Any]:
    """Phase 6: the ensemble fitted on blend, MC dropout, the one evaluation on test, the report."""
    from topnet.report.html import build_report

    config, plan, out, data = job.config, job.plan, job.out, job.data
    allowance = plan.start("ensemble")
    job.say("ensemble, calibration and the test split", allowance)
    networks = {k: v for k, v in models.items() if not isinstance(v, Member)}
    members = ([m for m in models.values() if isinstance(m, Member)] + network_members(networks, records, data, config.device)
               + classic)
    ensemble = fit_ensemble(members, data, config.seed, blend=None if job.pool is None else job.pool.dataset)
    if (out / "ensemble").exists():
        shutil.rmtree(out / "ensemble")  # a resumed run's half-written ensemble
    ensemble.save(out / "ensemble")
    mc = mc_dropout_scores(members, data, config.mc_samples, budget.mc_dropout_seconds(allowance), config.seed)
    write_json(out / "ensemble.json", write_ensemble_summary(ensemble, data, out / "ensemble", mc))
    evaluation = evaluate_on_test(ensemble, data, records, job.pool)  # the only time test is read
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
               "search": search_gain(*search, table["models"], table["greater_is_better"],
                                     scored_on="out-of-fold" if job.folds else "valid",
                                     zero_shot=_zero_shot(job, search[1])), "phases": plan.phases}
    write_json(out / "metrics.json", metrics)
    job.save()
    build_report(out)
    if config.verbose:
        test, single = metrics["test"], metrics["best_single"]
        key = "accuracy" if "accuracy" in test else "rmse"
        print(f"[run] test {key}: ensemble {test[key]:.4f}, best single ({single['name']}) {single[key]:.4f}; "
              f"{metrics['elapsed_s']:.0f}s of {plan.budget_s:.0f}s; report: {out / 'report.html'}", flush=True)
    return metrics
