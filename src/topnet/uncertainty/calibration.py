"""Calibration: how far predicted probabilities are from observed frequencies, and a fix.

- ``nll``: mean negative log-likelihood of the true class (log-loss, natural log).
- ``brier_score``: mean over rows of ``sum_k (p_k - 1[y = k]) ** 2`` (Brier, 1950; the
  multi-class form, between 0 and 2).
- ``expected_calibration_error``: rows are binned by confidence (their top probability) into
  equal-width bins over [0, 1]; ECE is the row-weighted mean of ``|accuracy - confidence|``
  over the bins (Guo et al., 2017). Bin ``b`` holds confidences in ``((b-1)/B, b/B]``; the
  first also holds 0.
- ``reliability_diagram``: the per-bin numbers behind ECE, for a plot.
- ``TemperatureScaling``: one temperature fitted on held-out data (re-exported from
  ``topnet.ensemble.temperature``, where the ensemble uses it).

Example:
    >>> p, y = np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1])
    >>> round(nll(p, y), 4), round(brier_score(p, y), 4), round(expected_calibration_error(p, y, num_bins=10), 4)
    (0.5108, 0.37, 0.35)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from topnet.ensemble.temperature import TemperatureScaling, check_labels, log_loss
from topnet.errors import format_message

__all__ = ["nll", "brier_score", "expected_calibration_error", "reliability_diagram", "calibration_metrics",
           "TemperatureScaling"]


def _probabilities(probabilities: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(probabilities, "detach"):
        probabilities = probabilities.detach().cpu().numpy()
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(format_message("probabilities", f"shape {p.shape}", "a non-empty (N, C) array of class probabilities"))
    labels = check_labels(y.detach().cpu().numpy() if hasattr(y, "detach") else y, p.shape[1], p.shape[0])
    return p, labels


def nll(probabilities: Any, y: Any) -> float:
    """Mean negative log-likelihood (log-loss) of the true classes; probabilities clipped at 1e-15.

    Example:
        >>> round(nll(np.array([[0.25, 0.75]]), np.array([1])), 6)  # -log 0.75
        0.287682
    """
    return log_loss(*_probabilities(probabilities, y))


def brier_score(probabilities: Any, y: Any) -> float:
    """Mean squared distance between the probabilities and the one-hot targets (0 is perfect).

    Example:
        >>> brier_score(np.array([[0.25, 0.75]]), np.array([1]))  # 0.25**2 + 0.25**2
        0.125
    """
    p, labels = _probabilities(probabilities, y)
    return float(np.mean(np.sum((p - np.eye(p.shape[1])[labels]) ** 2, axis=1)))


def reliability_diagram(probabilities: Any, y: Any, num_bins: int = 15) -> dict[str, np.ndarray]:
    """Per-bin confidence, accuracy and count, with equal-width bins over [0, 1].

    Args:
        probabilities: ``(N, C)`` class probabilities.
        y: ``(N,)`` class ids.
        num_bins: number of bins.

    Returns:
        ``{"edges": (B + 1,), "confidence": (B,), "accuracy": (B,), "count": (B,)}``; empty
        bins have NaN confidence and accuracy.

    Example:
        >>> d = reliability_diagram(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]), num_bins=2)
        >>> d["count"].tolist(), d["accuracy"].tolist()
        ([0, 2], [nan, 0.5])
    """
    if not isinstance(num_bins, int) or num_bins < 1:
        raise ValueError(format_message("num_bins", num_bins, "a positive int", "e.g. num_bins=15"))
    p, labels = _probabilities(probabilities, y)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    bins = np.clip(np.ceil(confidence * num_bins).astype(np.int64) - 1, 0, num_bins - 1)  # (lo, hi]
    count = np.bincount(bins, minlength=num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, weights=confidence, minlength=num_bins) / count
        accuracy = np.bincount(bins, weights=correct, minlength=num_bins) / count
    return {"edges": edges, "confidence": mean_confidence, "accuracy": accuracy, "count": count}


def expected_calibration_error(probabilities: Any, y: Any, num_bins: int = 15) -> float:
    """ECE: the row-weighted mean gap between accuracy and confidence over confidence bins.

    Example:
        >>> round(expected_calibration_error(np.array([[0.8, 0.2], [0.8, 0.2]]), np.array([0, 1])), 6)
        0.3
    """
    diagram = reliability_diagram(probabilities, y, num_bins)
    filled = diagram["count"] > 0
    gaps = np.abs(diagram["accuracy"][filled] - diagram["confidence"][filled])
    return float(np.sum(diagram["count"][filled] * gaps) / np.sum(diagram["count"]))


def calibration_metrics(probabilities: Any, y: Any, num_bins: int = 15) -> dict[str, float]:
    """``{"accuracy", "nll", "ece", "brier"}`` of probabilities against class ids.

    Example:
        >>> sorted(calibration_metrics(np.array([[0.9, 0.1]]), np.array([0])))
        ['accuracy', 'brier', 'ece', 'nll']
    """
    p, labels = _probabilities(probabilities, y)
    return {"accuracy": float(np.mean(p.argmax(axis=1) == labels)), "nll": log_loss(p, labels),
            "ece": expected_calibration_error(p, labels, num_bins), "brier": brier_score(p, labels)}
