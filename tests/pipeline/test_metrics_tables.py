"""`topnet run` on a table writes every test score (topnet.scores) to metrics.json, models.json
and the report, equal to scikit-learn's on the run's own predictions/test.npz."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as sk

from topnet.pipeline.evaluate import _ensemble_metrics, _member_metrics, _test_metrics
from topnet.scores import CLASSIFICATION_SCORES, REGRESSION_SCORES
from topnet.uncertainty.calibration import calibration_metrics

CALIBRATION = ("accuracy", "nll", "ece", "brier")


def _json(path):
    return json.loads(path.read_text())


def test_classification_test_metrics_are_calibration_and_ranking_scores():
    p, y = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.3, 0.5], [0.5, 0.4, 0.1]]), np.array([0, 1, 2, 1])
    scores = _test_metrics(p, y, "classification")
    assert list(scores) == [*CALIBRATION, *CLASSIFICATION_SCORES]
    assert {k: scores[k] for k in CALIBRATION} == calibration_metrics(p, y)


def test_a_diverged_member_marks_its_row_and_a_diverged_ensemble_stops_the_run():
    p, y = np.array([[0.5, 0.5], [np.nan, np.nan]]), np.array([0, 1])
    row = _member_metrics("mlp_a", p, y, "classification")
    assert list(row) == ["error"] and row["error"].startswith("mlp_a: probabilities: got '2 NaN or infinite")
    with pytest.raises(ValueError, match="the ensemble's test predictions: predictions: got '1 NaN"):
        _ensemble_metrics(np.array([1.0, np.inf]), np.array([1.0, 2.0]), "regression")


@pytest.mark.slow
def test_a_classification_run_writes_every_test_score(classification_run_dir):
    metrics = _json(classification_run_dir / "metrics.json")
    with np.load(classification_run_dir / "predictions" / "test.npz") as arrays:
        proba, y = arrays["proba"], arrays["y_true"]
    test = metrics["test"]
    assert set(test) - {"undefined"} == {*CALIBRATION, *CLASSIFICATION_SCORES}
    assert test["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, proba.argmax(axis=1)))
    assert test["f1_macro"] == pytest.approx(sk.f1_score(y, proba.argmax(axis=1), average="macro", zero_division=0))
    if len(np.unique(y)) == proba.shape[1]:  # three classes on ~60 test rows: each is there (else: undefined)
        assert test["roc_auc"] == pytest.approx(sk.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
        assert test["pr_auc"] == pytest.approx(sk.average_precision_score(np.eye(proba.shape[1])[y], proba))
    else:
        assert test["roc_auc"] is None and "roc_auc" in test["undefined"]
    models = _json(classification_run_dir / "models.json")
    for row in models["models"]:
        assert set(row["test_metrics"]) >= {*CALIBRATION, *CLASSIFICATION_SCORES}
        assert row["test_metrics"]["accuracy"] == pytest.approx(row["test"])  # the table's one metric, unchanged
    selected = next(row for row in models["models"] if row["name"] == models["selected"])
    assert metrics["best_single"] == {"name": selected["name"], **selected["test_metrics"]}
    page = (classification_run_dir / "report.html").read_text()
    assert "<td>balanced accuracy</td>" in page and "<td>ROC AUC</td>" in page and "<td>macro F1</td>" in page


@pytest.mark.slow
def test_a_regression_run_writes_rmse_mae_and_r2(regression_run_dir):
    metrics = _json(regression_run_dir / "metrics.json")
    with np.load(regression_run_dir / "predictions" / "test.npz") as arrays:
        y_pred, y = arrays["y_pred"], arrays["y_true"]
    assert list(metrics["test"]) == list(REGRESSION_SCORES)
    assert metrics["test"] == pytest.approx({"rmse": sk.root_mean_squared_error(y, y_pred),
                                             "mae": sk.mean_absolute_error(y, y_pred), "r2": sk.r2_score(y, y_pred)})
    assert metrics["test"]["r2"] > 0.5  # a noisy linear target: a useful model explains most of it
    assert set(metrics["best_single"]) == {"name", *REGRESSION_SCORES}
    for row in _json(regression_run_dir / "models.json")["models"]:
        assert row["test_metrics"]["rmse"] == pytest.approx(row["test"])
    assert "<td>R²</td>" in (regression_run_dir / "report.html").read_text()
