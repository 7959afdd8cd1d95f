"""topnet.scores against scikit-learn on hand-made predictions, and its undefined cases."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn import metrics

from topnet.scores import CLASSIFICATION_SCORES, classification_scores, regression_scores


def _probabilities(rng: np.random.Generator, y: np.ndarray, num_classes: int, signal: float = 1.5) -> np.ndarray:
    """Softmax of noisy logits that lean towards the true class: (N, C), rows summing to 1."""
    logits = rng.normal(size=(len(y), num_classes)) + signal * np.eye(num_classes)[y]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _reference(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The four scores as a user computes them with sklearn.metrics."""
    num_classes, predicted = p.shape[1], p.argmax(axis=1)
    if num_classes == 2:
        roc_auc, pr_auc = metrics.roc_auc_score(y, p[:, 1]), metrics.average_precision_score(y, p[:, 1])
    else:
        roc_auc = metrics.roc_auc_score(y, p, multi_class="ovr", average="macro")
        pr_auc = metrics.average_precision_score(np.eye(num_classes)[y], p, average="macro")
    return {"balanced_accuracy": metrics.balanced_accuracy_score(y, predicted),
            "f1_macro": metrics.f1_score(y, predicted, average="macro"), "roc_auc": roc_auc, "pr_auc": pr_auc}


@pytest.mark.parametrize("num_classes, weights", [
    (2, None),                        # binary, balanced
    (2, [0.95, 0.05]),                # binary, imbalanced: PR AUC far below ROC AUC
    (4, None),                        # multiclass
    (4, [0.7, 0.2, 0.07, 0.03]),      # multiclass, one rare class
])
def test_classification_scores_equal_sklearn(num_classes, weights):
    rng = np.random.default_rng(num_classes)
    y = rng.choice(num_classes, size=400, p=weights)
    y[:num_classes] = np.arange(num_classes)  # every class present
    p = _probabilities(rng, y, num_classes)
    scores = classification_scores(p, y)
    assert list(scores) == list(CLASSIFICATION_SCORES)  # nothing undefined
    assert scores == pytest.approx(_reference(p, y), rel=1e-12)
    assert all(type(v) is float for v in scores.values())  # plain floats: JSON as they are


def test_imbalanced_binary_shows_what_accuracy_hides():
    y = np.array([0] * 95 + [1] * 5)
    p = np.tile([0.9, 0.1], (100, 1))  # always the majority class: 95% accuracy
    scores = classification_scores(p, y)
    assert scores["balanced_accuracy"] == 0.5 and scores["roc_auc"] == 0.5
    assert scores["pr_auc"] == pytest.approx(0.05)  # the positives' share: no ranking skill
    assert scores["f1_macro"] == pytest.approx(metrics.f1_score(y, p.argmax(axis=1), average="macro", zero_division=0))


def test_a_class_absent_from_test_leaves_the_aucs_undefined():
    rng = np.random.default_rng(0)
    y = rng.choice([0, 1, 3], size=60)  # class 2 has no test row
    p = _probabilities(rng, y, 4)
    scores = classification_scores(p, y)
    assert scores["roc_auc"] is None and scores["pr_auc"] is None
    assert "class 2 has no row" in scores["undefined"]["roc_auc"] and "class 2" in scores["undefined"]["pr_auc"]
    predicted = p.argmax(axis=1)
    with warnings.catch_warnings():  # sklearn warns when class 2 is predicted; topnet.scores does not
        warnings.simplefilter("ignore", UserWarning)
        balanced = metrics.balanced_accuracy_score(y, predicted)
    assert scores["balanced_accuracy"] == pytest.approx(balanced)
    assert scores["f1_macro"] == pytest.approx(metrics.f1_score(y, predicted, average="macro", zero_division=0))


def test_binary_aucs_need_their_classes():
    p = np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    only_positives = classification_scores(p, np.array([1, 1, 1]))
    assert only_positives["roc_auc"] is None and "class 0" in only_positives["undefined"]["roc_auc"]
    assert only_positives["pr_auc"] == metrics.average_precision_score([1, 1, 1], p[:, 1]) == 1.0
    only_negatives = classification_scores(p, np.array([0, 0, 0]))
    assert only_negatives["roc_auc"] is None and only_negatives["pr_auc"] is None
    assert set(only_negatives["undefined"]) == {"roc_auc", "pr_auc"}


def test_a_single_class_test_split_is_scored_not_a_crash():
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
    scores = classification_scores(p, np.array([0, 0, 0]))
    assert scores["balanced_accuracy"] == pytest.approx(2 / 3)  # recall of class 0
    assert scores["roc_auc"] is None and "class 1, 2 have no row" in scores["undefined"]["roc_auc"]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_probabilities_are_a_clear_error(bad):
    p = np.array([[0.5, 0.5], [bad, 0.5], [0.1, 0.9]])
    with pytest.raises(ValueError, match=r"1 NaN or infinite values in 1 of 3 rows \(first: \[1\]\).*diverged"):
        classification_scores(p, np.array([0, 1, 1]))


@pytest.mark.parametrize("p, y, match", [
    (np.array([[0.5, 0.5]]), np.array([0.0]), "integer class ids"),
    (np.array([[0.5, 0.5]]), np.array([2]), r"ids in \[0, 2\)"),
    (np.array([[0.5, 0.5]]), np.array([0, 1]), "1 integer class ids"),
    (np.array([1.0, 0.0]), np.array([0, 1]), "with C >= 2"),
    (np.zeros((0, 2)), np.array([], dtype=int), "at least one row"),
    (np.array([[0.5, 0.2, 0.1], [0.1, 0.2, 0.1], [0.1, 0.1, 0.2]]), np.array([0, 1, 2]), "sum up to 1"),
])
def test_bad_inputs_say_what_was_expected(p, y, match):
    with pytest.raises(ValueError, match=match):
        classification_scores(p, y)


def test_tensors_are_accepted():
    p, y = torch.tensor([[0.8, 0.2], [0.3, 0.7]]), torch.tensor([0, 1])
    assert classification_scores(p, y)["roc_auc"] == 1.0


def test_regression_scores_equal_sklearn():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    predicted = (y + rng.normal(0, 0.5, 200)).reshape(-1, 1)  # (N, 1), as a network predicts
    scores = regression_scores(predicted, y)
    assert scores == pytest.approx({"rmse": metrics.root_mean_squared_error(y, predicted),
                                    "mae": metrics.mean_absolute_error(y, predicted), "r2": metrics.r2_score(y, predicted)})


@pytest.mark.parametrize("constant, r2", [("mean", 0.0), (10.0, None)])
def test_r2_of_a_constant_prediction(constant, r2):
    y = np.array([1.0, 2.0, 4.0, 7.0])
    predicted = np.full(4, y.mean() if constant == "mean" else constant)
    expected = metrics.r2_score(y, predicted)
    assert regression_scores(predicted, y)["r2"] == pytest.approx(expected)
    assert expected == 0.0 if constant == "mean" else expected < -5  # far worse than the mean


def test_r2_of_constant_targets_is_undefined():
    scores = regression_scores([1.0, 2.0], [3.0, 3.0])
    assert scores["r2"] is None and "all 3" in scores["undefined"]["r2"]
    assert scores["rmse"] == pytest.approx(np.sqrt(2.5)) and scores["mae"] == 1.5
    assert regression_scores([1.0], [2.0])["r2"] is None  # one row: constant too


@pytest.mark.parametrize("predicted, y, match", [
    ([1.0, np.nan], [1.0, 2.0], "predictions: got '1 NaN or infinite"),
    ([1.0, 2.0], [1.0, np.inf], "y: got '1 NaN or infinite"),
    (np.ones((2, 2)), [1.0, 2.0], "one predicted value per row"),
    ([1.0, 2.0, 3.0], [1.0, 2.0], "one predicted value per row"),
])
def test_bad_regression_inputs(predicted, y, match):
    with pytest.raises(ValueError, match=match):
        regression_scores(predicted, y)
