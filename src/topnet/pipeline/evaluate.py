"""Phases 6-8 of ``topnet run``: ensemble on blend, uncertainty, one evaluation on test, the files.

The ensemble (``topnet.ensemble.Ensemble``) picks its combiner by cross-fitted blend log-loss
(MSE for regression) and fits a temperature on blend. MC dropout is measured on blend for every
network member with dropout (does averaging dropout masks lower its log-loss?). Only then is the
test split read, once: every model, the best single model (picked on valid) and the ensemble
before and after temperature scaling. Everything lands in the run directory as the report
schema (`topnet.report.schema`) describes it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from topnet import budget
from topnet.data import Splits
from topnet.ensemble import Ensemble, NetworkMember
from topnet.ensemble.features import categorical_sizes
from topnet.ensemble.temperature import log_loss
from topnet.pipeline.data import RunSplits
from topnet.scores import classification_scores, regression_scores
from topnet.train.regularizers import DROPOUT_TYPES
from topnet.uncertainty.calibration import calibration_metrics

__all__ = ["network_members", "fit_ensemble", "mc_dropout_scores", "evaluate_on_test", "NUM_EXAMPLES"]

NUM_EXAMPLES = 64  # least-confident test rows whose inputs are kept for the report


def network_members(models: dict[str, Any], records: dict[str, dict[str, Any]], data: RunSplits,
                    device: str) -> list[NetworkMember]:
    """The retrained networks as ensemble members (tabular MLPs take the one-hot matrix)."""
    sizes = categorical_sizes(data.splits.train)
    members = []
    for name, model in models.items():
        flat = data.kind == "tabular" and records[name].get("family") != "wide_and_deep"
        members.append(NetworkMember(model, name=name, task=data.task, features="flat" if flat else "raw",
                                     categorical_sizes=sizes, device=device))
    return members


MIN_TEMPERATURE_ROWS = 200  # fewer blend rows fit a temperature to noise (it runs to its bound)


def fit_ensemble(members: list[Any], data: RunSplits, seed: int, blend: Any = None) -> Ensemble:
    """Combiner picked by cross-fitted blend loss; a temperature fitted on blend for
    classification when blend has at least ``MIN_TEMPERATURE_ROWS`` rows. ``blend``: the rows
    to fit on instead of the blend split (a bagged run's pool, where the members give
    out-of-fold predictions)."""
    splits = data.splits if blend is None else Splits(train=blend, blend=blend)
    temperature = data.task == "classification" and len(splits.blend) >= MIN_TEMPERATURE_ROWS
    return Ensemble(members, combiner="auto", temperature=temperature, seed=seed).fit(splits)


def _score(outputs: np.ndarray, y: np.ndarray, task: str) -> float:
    if task == "classification":
        return float(np.mean(np.asarray(outputs).argmax(axis=1) == y))
    return float(np.sqrt(np.mean((np.asarray(outputs).reshape(len(y), -1) - y.reshape(len(y), -1)) ** 2)))


def _has_dropout(model: Any) -> bool:
    return any(isinstance(m, DROPOUT_TYPES) for m in model.modules())


def mc_dropout_scores(members: list[Any], data: RunSplits, samples: int, seconds: float,
                      seed: int) -> dict[str, dict[str, Any]]:
    """Blend log-loss of each dropout network, deterministic and averaged over ``samples`` MC
    dropout passes (classification only). A member gets as many passes as the time left allows,
    at the speed of its deterministic pass (fewer than ``samples`` is recorded; under 2, skipped)."""
    from topnet.uncertainty import mc_predict

    if samples < 1 or data.task != "classification":
        return {}
    blend, started, results = data.splits.blend, time.monotonic(), {}
    for member in members:
        if not isinstance(member, NetworkMember) or not _has_dropout(member.model):
            continue
        began = time.monotonic()
        deterministic = log_loss(member.predict(blend.x), blend.y)  # timed: not the cached predictions
        fits = budget.mc_dropout_passes(seconds - (time.monotonic() - started), time.monotonic() - began)
        if fits < 2:
            results[member.name] = {"status": "skipped: out of time"}
            continue
        began = time.monotonic()
        mean = mc_predict(member.model, member.inputs(blend.x), min(samples, fits), seed=seed, device=member.device).mean
        results[member.name] = {"samples": min(samples, fits), "seconds": round(time.monotonic() - began, 3),
                                "blend_nll": deterministic, "blend_nll_mc": log_loss(mean.double().numpy(), blend.y)}
    return results


def evaluate_on_test(ensemble: Ensemble, data: RunSplits, records: dict[str, dict[str, Any]],
                     pool: Any = None) -> dict[str, Any]:
    """Read test once: every member, the best single model (by valid) and the ensemble.

    The ensemble and the best single model get every test score (`_test_metrics`); each
    models.json row gets them too, as ``test_metrics``, beside its valid/blend/test score in
    the table's one metric. With ``pool`` (a bagged run's `topnet.pipeline.bagged.Pool`), each
    row also gets ``oof``: the score of its out-of-fold predictions over every pooled row (the
    ensemble's: of its combination of them, which its weights were fitted on).

    Returns:
        ``{"metrics", "models", "calibration", "predictions"}``: the documents of
        ``metrics.json`` (without time), ``models.json``, ``calibration.json`` and the arrays
        of ``predictions/test.npz``.

    Raises:
        ValueError: the ensemble's or the best single model's test predictions hold NaN or
            infinite values (another member's only mark its own row).
    """
    splits, task = data.splits, data.task
    test = data.test.open()  # the one read of the test split in a run (a second one raises)
    y = np.asarray(test.y)
    outputs = {m.name: m.predict_split("test", test) for m in ensemble.members_}
    stacked = ensemble.stack(outputs, ensemble.members_)
    raw = ensemble.combiner_.combine(stacked)
    rows = []
    for member in ensemble.members_:
        record = records.get(member.name, {})
        rows.append({"name": member.name, "family": record.get("family", member.kind),
                     "num_params": record.get("num_params"),
                     "valid": _score(member.predict_split("valid", splits.valid), np.asarray(splits.valid.y), task),
                     "blend": _score(member.predict_split("blend", splits.blend), np.asarray(splits.blend.y), task),
                     "test": _score(outputs[member.name], y, task),
                     "test_metrics": _member_metrics(member.name, outputs[member.name], y, task),
                     **{k: v for k, v in record.items() if k in ("epochs_run", "best_epoch", "seconds", "trial", "trees")}})
    if pool is not None:
        pooled_y = np.asarray(pool.dataset.y)
        for row, member in zip(rows, ensemble.members_):
            row["oof"] = _score(member.oof_, pooled_y, task)
    maximize = task == "classification"
    selected = (max if maximize else min)(rows, key=lambda r: r["valid"])
    metric = "accuracy" if maximize else "rmse"
    models = {"metric": metric, "greater_is_better": maximize, "selected": selected["name"], "models": rows,
              "ensemble": _ensemble_row(ensemble, splits, outputs, y, task)}
    if pool is not None:
        models["ensemble"]["oof"] = _score(ensemble.combine({m.name: m.oof_ for m in ensemble.members_}),
                                           np.asarray(pool.dataset.y), task)
    single = selected["test_metrics"]
    if "error" in single:
        raise ValueError(f"the best single model (picked on valid), {single['error']}")
    if task == "classification":
        calibrated = ensemble.combine(outputs)
        metrics = {"test": _ensemble_metrics(calibrated, y, task), "best_single": {"name": selected["name"], **single}}
        before, after = calibration_metrics(raw, y), metrics["test"]
        calibration = {"temperature": ensemble.temperature_,
                       "fitted_on": "blend" if ensemble.temperature_ is not None else
                       f"none: blend has {len(splits.blend)} rows, fewer than {MIN_TEMPERATURE_ROWS}",
                       "before": {k: before[k] for k in ("ece", "nll", "brier")},
                       "after": {k: after[k] for k in ("ece", "nll", "brier")}}
        predictions = {"y_true": y, "proba": calibrated, "proba_uncalibrated": raw}
        confidence = calibrated.max(axis=1)
    else:
        combined = np.asarray(ensemble.combine(outputs)).reshape(len(y), -1)[:, 0]
        spread = np.std(stacked[:, :, 0], axis=0)  # the members' disagreement per row
        metrics = {"test": _ensemble_metrics(combined, y, task), "best_single": {"name": selected["name"], **single}}
        calibration = None
        predictions = {"y_true": y, "y_pred": combined, "y_std": spread}
        confidence = -spread
    predictions.update(_examples(data, test, confidence))
    return {"metrics": metrics, "models": models, "calibration": calibration, "predictions": predictions}


def _ensemble_row(ensemble: Ensemble, splits: Any, test_outputs: dict[str, Any], y: np.ndarray,
                  task: str) -> dict[str, Any]:
    """The ensemble's scores on valid, blend (where its weights were fitted) and test, in the
    members' metric: set beside the best member's, they show what combining bought."""
    row: dict[str, Any] = {"name": "ensemble", "family": ensemble.combiner_name_}
    for name, part in (("valid", splits.valid), ("blend", splits.blend)):
        outputs = {m.name: m.predict_split(name, part) for m in ensemble.members_}
        row[name] = _score(ensemble.combine(outputs), np.asarray(part.y), task)
    row["test"] = _score(ensemble.combine(test_outputs), y, task)
    return row


def _test_metrics(outputs: Any, y: np.ndarray, task: str) -> dict[str, Any]:
    """Every test score of one model: classification ``{"accuracy", "nll", "ece", "brier"}``
    (`calibration_metrics`) and ``{"balanced_accuracy", "f1_macro", "roc_auc", "pr_auc"}``
    (`classification_scores`); regression ``{"rmse", "mae", "r2"}`` (`regression_scores`).
    A score the split leaves undefined is None, and ``"undefined"`` says why.

    Raises:
        ValueError: NaN or infinite outputs.
    """
    if task == "classification":
        scores = classification_scores(outputs, y)  # first: it refuses NaN, which calibration would average
        return {**calibration_metrics(outputs, y), **scores}
    return regression_scores(outputs, y)


def _ensemble_metrics(outputs: Any, y: np.ndarray, task: str) -> dict[str, Any]:
    try:
        return _test_metrics(outputs, y, task)
    except ValueError as error:
        raise ValueError(f"the ensemble's test predictions: {error}") from error


def _member_metrics(name: str, outputs: Any, y: np.ndarray, task: str) -> dict[str, Any]:
    """A member's `_test_metrics`, or ``{"error": why}``: one diverged member (maybe weighted 0)
    does not stop the run, its row says what went wrong."""
    try:
        return _test_metrics(outputs, y, task)
    except ValueError as error:
        return {"error": f"{name}: {error}"}


def _examples(data: RunSplits, test: Any, confidence: np.ndarray) -> dict[str, np.ndarray]:
    """The inputs (as loaded) of the least-confident test rows, for the report."""
    raw = test.meta["raw_x"]
    if isinstance(raw, dict):  # a table: the numeric columns, as read
        raw = raw.get("numeric")
        if raw is None:
            return {}
    raw = np.asarray(raw)
    if raw.dtype == object:  # texts: their first 300 characters, as fixed-width strings (no pickle in the .npz)
        raw = np.asarray([str(text)[:300] for text in raw], dtype=str)
    if data.kind == "vectors":
        raw = raw.reshape(len(raw), -1)
    order = np.sort(np.argsort(confidence, kind="stable")[:NUM_EXAMPLES])
    examples = {"x_sample": raw[order], "sample_index": order}
    paths = test.meta.get("paths")
    if paths is not None:  # a folder of images: the file each least-sure row came from
        examples["sample_path"] = np.asarray([str(paths[i]) for i in order])
    return examples


def write_ensemble_summary(ensemble: Ensemble, data: RunSplits, out: Path, mc: dict[str, Any]) -> dict[str, Any]:
    """``ensemble.json``'s document (`topnet.report.schema.EnsembleSummary`)."""
    table = ensemble.diversity(data.splits.blend)
    return {"members": [m.name for m in ensemble.members_], "combiner": ensemble.combiner_name_,
            "weights": ensemble.weights_, "blend_loss": ensemble.scores_, "diversity": table.to_dict(),
            "temperature": ensemble.temperature_, "mc_dropout": mc, "saved": str(out)}
