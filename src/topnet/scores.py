"""Scores of finished predictions against the truth: what ``metrics.json`` reports on test.

``classification_scores`` reads class probabilities, ``regression_scores`` predicted values;
scikit-learn computes each score, so a number here is the number a user gets from
``sklearn.metrics`` on the same arrays. A score that the data leaves undefined (ROC AUC
with a class missing from the split, R² of constant targets) is ``None``, and the dict's
``"undefined"`` entry says why: ``{"roc_auc": "class 2 has no row ..."}``.

Classification (``probabilities`` ``(N, C)``, ``y`` ``(N,)`` class ids; the predicted class
is the most probable one):

- ``balanced_accuracy``: the mean recall over the classes present in ``y``.
- ``f1_macro``: the unweighted mean F1 over the classes present in ``y`` or predicted.
- ``roc_auc``: binary (``C == 2``): of class 1's probability; ``C > 2``: one-vs-rest, macro
  average (``roc_auc_score(multi_class="ovr", average="macro")``). Needs every class in ``y``.
- ``pr_auc``: average precision, the step-wise area under the precision-recall curve;
  binary: of class 1; ``C > 2``: macro average over the one-hot columns. Needs a row of
  every class it scores (binary: of class 1).

Regression (``predictions`` and ``y``, ``(N,)`` or ``(N, 1)``): ``rmse``, ``mae`` and ``r2``
(1 - residual sum of squares / total sum of squares: 1 is perfect, 0 is predicting the mean,
below 0 is worse than that; undefined when ``y`` is constant).

This module is not ``topnet.train.metrics`` (running means on the device, for ``fit``) nor
``topnet.uncertainty.calibration`` (NLL, ECE, Brier): those are computed next to these. It
sits at the package's top level, beside ``io`` and ``budget``, because it needs nothing of
topnet but ``errors``: the pipeline's final evaluation uses it, and any floor could.

Example:
    >>> p, y = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), np.array([0, 1, 1])
    >>> scores = classification_scores(p, y)
    >>> scores["roc_auc"], scores["balanced_accuracy"]
    (1.0, 0.75)
    >>> regression_scores([1.0, 2.0, 4.0], [1.0, 2.0, 3.0])["r2"]  # 1 - 1 / 2
    0.5
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from topnet.errors import format_message

__all__ = ["classification_scores", "regression_scores", "CLASSIFICATION_SCORES", "REGRESSION_SCORES"]

CLASSIFICATION_SCORES = ("balanced_accuracy", "f1_macro", "roc_auc", "pr_auc")
REGRESSION_SCORES = ("rmse", "mae", "r2")


def _sklearn_metrics() -> Any:
    try:
        import sklearn.metrics
    except ImportError:
        raise ImportError("test scores need scikit-learn; install it with: pip install scikit-learn") from None
    return sklearn.metrics


_DIVERGED = "a model that predicts NaN or infinity has diverged: check its training history"


def _array(value: Any, what: str, fix: str = _DIVERGED) -> np.ndarray:
    """``value`` (array-like or torch tensor) as float64, or a ValueError if empty or not finite."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if array.size == 0:
        raise ValueError(format_message(what, f"an empty array of shape {array.shape}", "at least one row"))
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.unique(np.nonzero(bad.reshape(len(array), -1))[0])
        got = f"{int(bad.sum())} NaN or infinite values in {len(rows)} of {len(array)} rows (first: {rows[:5].tolist()})"
        raise ValueError(format_message(what, got, "finite numbers", fix))
    return array


def _labels(y: Any, num_classes: int, num_rows: int) -> np.ndarray:
    labels = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y)
    if labels.shape != (num_rows,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(format_message("y", f"shape {labels.shape} dtype {labels.dtype}",
                                        f"{num_rows} integer class ids, one per row of the probabilities"))
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(format_message("y", f"class ids in [{labels.min()}, {labels.max()}]",
                                        f"ids in [0, {num_classes}) (one probability column per class)"))
    return labels.astype(np.int64)


def _ranking_scores(p: np.ndarray, labels: np.ndarray, metrics: Any) -> dict[str, Any]:
    """``roc_auc`` and ``pr_auc`` and, for each one the split leaves undefined, why."""
    num_classes = p.shape[1]
    absent = sorted(set(range(num_classes)) - set(labels.tolist()))
    scored = {1} if num_classes == 2 else set(range(num_classes))  # the classes average precision is of
    unscored = sorted(scored & set(absent))
    scores: dict[str, Any] = {"roc_auc": None, "pr_auc": None}
    undefined: dict[str, str] = {}
    if absent:
        undefined["roc_auc"] = _no_rows(absent, "ROC AUC needs a row of every class")
    elif num_classes == 2:
        scores["roc_auc"] = float(metrics.roc_auc_score(labels, p[:, 1]))
    else:
        scores["roc_auc"] = float(metrics.roc_auc_score(labels, p, multi_class="ovr", average="macro"))
    if unscored:
        undefined["pr_auc"] = _no_rows(unscored, "average precision needs a positive row of each class it scores")
    elif num_classes == 2:
        scores["pr_auc"] = float(metrics.average_precision_score(labels == 1, p[:, 1]))
    else:
        scores["pr_auc"] = float(metrics.average_precision_score(np.eye(num_classes)[labels], p, average="macro"))
    return {**scores, **({"undefined": undefined} if undefined else {})}


def _no_rows(ids: list[int], needs: str) -> str:
    """``"class 2 has no row in the split; <needs>"``, at most 10 ids named."""
    named = ", ".join(str(i) for i in ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    return f"class {named} {'has' if len(ids) == 1 else 'have'} no row in the split; {needs}"


def classification_scores(probabilities: Any, y: Any) -> dict[str, Any]:
    """Balanced accuracy, macro F1, ROC AUC and PR AUC of class probabilities (the module docstring
    defines each).

    Args:
        probabilities: ``(N, C)`` class probabilities, ``C >= 2``, rows summing to 1 (scikit-learn's
            one-vs-rest ROC AUC checks that for ``C > 2``).
        y: ``(N,)`` integer class ids in ``[0, C)``.

    Returns:
        ``{"balanced_accuracy", "f1_macro", "roc_auc", "pr_auc"}`` as floats, ``None`` where
        undefined; then also ``"undefined": {score: why}``.

    Raises:
        ValueError: an empty, NaN or infinite ``probabilities``, fewer than 2 columns, rows that
            do not sum to 1 (``C > 2``), or ``y`` of the wrong shape or out of range.

    Example:
        >>> p = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
        >>> scores = classification_scores(p, np.array([0, 1, 1]))  # no row of class 2
        >>> scores["roc_auc"], scores["undefined"]["roc_auc"]
        (None, 'class 2 has no row in the split; ROC AUC needs a row of every class')
    """
    p = _array(probabilities, "probabilities")
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(format_message("probabilities", f"shape {p.shape}", "(N, C) class probabilities with C >= 2"))
    labels = _labels(y, p.shape[1], len(p))
    metrics = _sklearn_metrics()
    predicted = p.argmax(axis=1)
    with warnings.catch_warnings():  # a class predicted but absent from y: its recall is left out, as documented
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = float(metrics.balanced_accuracy_score(labels, predicted))
    f1 = float(metrics.f1_score(labels, predicted, average="macro", zero_division=0.0))
    return {"balanced_accuracy": balanced, "f1_macro": f1, **_ranking_scores(p, labels, metrics)}


def regression_scores(predictions: Any, y: Any) -> dict[str, Any]:
    """RMSE, MAE and R² of one predicted value per row.

    Args:
        predictions: ``(N,)`` or ``(N, 1)`` predicted values.
        y: ``(N,)`` or ``(N, 1)`` true values.

    Returns:
        ``{"rmse", "mae", "r2"}`` as floats; ``r2`` is ``None`` when ``y`` is constant (a
        single row included), with ``"undefined": {"r2": why}``.

    Raises:
        ValueError: empty, NaN or infinite arrays, or more than one value per row.

    Example:
        >>> regression_scores([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])  # the mean: R² 0
        {'rmse': 0.816496580927726, 'mae': 0.6666666666666666, 'r2': 0.0}
    """
    true = _array(y, "y", "drop the rows whose target is missing")
    predicted = _array(predictions, "predictions")
    if true.size != len(true) or predicted.shape[0] != len(true) or predicted.size != len(true):
        raise ValueError(format_message("predictions", f"shape {predicted.shape} for y of shape {true.shape}",
                                        "one predicted value per row of y"))
    true, predicted = true.reshape(-1), predicted.reshape(-1)
    metrics = _sklearn_metrics()
    scores: dict[str, Any] = {"rmse": float(metrics.root_mean_squared_error(true, predicted)),
                              "mae": float(metrics.mean_absolute_error(true, predicted)), "r2": None}
    if np.ptp(true) == 0:
        scores["undefined"] = {"r2": f"the {len(true)} true values are all {true[0]:g}; R² divides by their variance"}
    else:
        scores["r2"] = float(metrics.r2_score(true, predicted))
    return scores
