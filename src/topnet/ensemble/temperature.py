"""Temperature scaling (Guo et al., 2017) and the losses the ensemble minimises.

A classifier's logits ``z`` are divided by one scalar ``T > 0`` before the softmax: ``T > 1``
softens over-confident probabilities, ``T < 1`` sharpens under-confident ones, and the predicted
class never changes. ``T`` is fitted on held-out data (the blend split) by minimising the
negative log-likelihood. Log-probabilities are valid logits (the softmax ignores a per-row
shift), so an ensemble's averaged probabilities ``p`` are scaled as ``softmax(log p / T)``.

The negative log-likelihood is convex in ``beta = 1 / T`` (a linear term plus a log-sum-exp), so
a bounded one-dimensional search over ``beta`` finds the global minimum.

This module lives in ``ensemble/`` because the ensemble needs it and the package order is
data → nn → train → tune → ensemble → uncertainty; ``topnet.uncertainty.calibration`` re-exports
it beside ECE, Brier score and the reliability diagram.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from topnet.ensemble._optional import require
from topnet.errors import format_message

__all__ = ["TemperatureScaling", "log_loss", "mean_squared_error", "softmax", "log_probabilities", "true_class_log_loss", "EPSILON"]

EPSILON = 1e-15  # probabilities are clipped to [EPSILON, 1] before the log (scikit-learn's choice)


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def check_labels(y: Any, num_classes: int, num_rows: int) -> np.ndarray:
    """``y`` as int64 class ids in ``[0, num_classes)`` with ``num_rows`` entries, or a ValueError."""
    labels = _array(y)
    if labels.shape != (num_rows,) or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(format_message("y", f"shape {labels.shape} dtype {labels.dtype}",
                                        f"{num_rows} integer class ids, one per row of the probabilities"))
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(format_message("y", f"class ids in [{labels.min()}, {labels.max()}]",
                                        f"ids in [0, {num_classes}) (one column per class)"))
    return labels.astype(np.int64)


def log_loss(probabilities: Any, y: Any) -> float:
    """Mean negative log-likelihood of the true classes (natural log), probabilities clipped.

    Args:
        probabilities: ``(N, C)`` class probabilities (rows sum to 1).
        y: ``(N,)`` class ids.

    Returns:
        ``-mean(log(clip(p[i, y_i], 1e-15, 1)))``.

    Example:
        >>> round(log_loss([[0.5, 0.5], [0.2, 0.8]], [0, 1]), 6)  # -(log 0.5 + log 0.8) / 2
        0.458145
    """
    p = _array(probabilities).astype(np.float64)
    if p.ndim != 2:
        raise ValueError(format_message("probabilities", f"shape {p.shape}", "(N, C) class probabilities"))
    labels = check_labels(y, p.shape[1], p.shape[0])
    return true_class_log_loss(p[np.arange(len(labels)), labels])


def true_class_log_loss(true_probabilities: np.ndarray) -> float:
    """``log_loss`` from each row's probability of its true class: ``-mean(log(clip(p, 1e-15, 1)))``."""
    return float(-np.mean(np.log(np.clip(true_probabilities, EPSILON, 1.0))))


def mean_squared_error(predictions: Any, y: Any) -> float:
    """Mean of ``(prediction - y) ** 2`` over rows and outputs (the regression loss).

    Example:
        >>> mean_squared_error([1.0, 2.0], [0.0, 4.0])
        2.5
    """
    p, t = _array(predictions).astype(np.float64), _array(y).astype(np.float64)
    if p.size != t.size or len(p) != len(t):
        raise ValueError(format_message("y", f"shape {t.shape}", f"the predictions' shape {p.shape}"))
    return float(np.mean((p.reshape(t.shape) - t) ** 2))


def softmax(logits: Any, axis: int = -1) -> np.ndarray:
    """Row-wise softmax in float64 (shifted by the row max, so large logits do not overflow)."""
    z = _array(logits).astype(np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def log_probabilities(probabilities: Any) -> np.ndarray:
    """``log(clip(p, 1e-15, 1))``: probabilities as logits for temperature scaling or stacking."""
    return np.log(np.clip(_array(probabilities).astype(np.float64), EPSILON, 1.0))


class TemperatureScaling:
    """Divide logits by one fitted temperature before the softmax.

    Args:
        bounds: the search interval of the temperature ``(low, high)``, both positive.

    Attributes:
        temperature_: the fitted ``T``.
        nll_before_: log-loss of ``softmax(logits)`` on the fitting data.
        nll_after_: log-loss of ``softmax(logits / T)`` on the same data (never higher, up to the
            search tolerance, since ``T = 1`` is inside the default bounds).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 3, 500)
        >>> logits = 5.0 * np.eye(3)[y] + 4.0 * rng.normal(size=(500, 3))  # over-confident
        >>> scaler = TemperatureScaling().fit(logits, y)
        >>> bool(scaler.temperature_ > 1.0), bool(scaler.nll_after_ < scaler.nll_before_)
        (True, True)
        >>> scaler.transform(logits).shape
        (500, 3)
    """

    def __init__(self, bounds: tuple[float, float] = (0.05, 20.0)) -> None:
        self.bounds = bounds

    def _check_bounds(self) -> tuple[float, float]:
        low, high = self.bounds
        if not 0 < low < high:
            raise ValueError(format_message("bounds", self.bounds, "(low, high) with 0 < low < high", "e.g. (0.05, 20.0)"))
        return float(low), float(high)

    def fit(self, logits: Any, y: Any) -> TemperatureScaling:
        """Fit ``temperature_`` by minimising the log-loss of ``softmax(logits / T)`` on ``y``.

        Args:
            logits: ``(N, C)`` logits or log-probabilities.
            y: ``(N,)`` class ids.

        Returns:
            self.

        Raises:
            ValueError: bad shapes, labels out of range, or bad ``bounds``.
        """
        minimize_scalar = require("scipy.optimize", "scipy", "temperature scaling").minimize_scalar
        low, high = self._check_bounds()
        z = _array(logits).astype(np.float64)
        if z.ndim != 2 or len(z) == 0 or not np.all(np.isfinite(z)):
            raise ValueError(format_message("logits", f"shape {z.shape}", "a finite, non-empty (N, C) array"))
        labels = check_labels(y, z.shape[1], z.shape[0])
        rows = np.arange(len(labels))

        def nll(beta: float) -> float:  # -z_y * beta + logsumexp(z * beta), averaged: convex in beta
            scaled = z * beta
            top = scaled.max(axis=1)
            return float(np.mean(top + np.log(np.exp(scaled - top[:, None]).sum(axis=1)) - scaled[rows, labels]))

        result = minimize_scalar(nll, bounds=(1.0 / high, 1.0 / low), method="bounded", options={"xatol": 1e-7})
        self.temperature_ = float(1.0 / result.x)
        self.nll_before_ = nll(1.0)
        self.nll_after_ = float(result.fun)
        return self

    def transform(self, logits: Any) -> np.ndarray:
        """Calibrated probabilities ``softmax(logits / temperature_)``, ``(N, C)`` float64."""
        if not hasattr(self, "temperature_"):
            raise ValueError("this TemperatureScaling is not fitted yet; call fit(logits_blend, y_blend) first")
        return softmax(_array(logits).astype(np.float64) / self.temperature_)

    def fit_transform(self, logits: Any, y: Any) -> np.ndarray:
        """`fit` then `transform` the same logits."""
        return self.fit(logits, y).transform(logits)
