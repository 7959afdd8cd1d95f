"""What the table members share: targets checked per task, class columns, and a time box.

Every member outputs one column per class id ``0 .. num_classes - 1`` (a class missing from
train gets probability 0), so members fitted on different rows line up in an ensemble.

Example:
    >>> spread_columns(np.array([[0.25, 0.75]]), np.array([0, 2]), 3).tolist()
    [[0.25, 0.0, 0.75]]
    >>> box = TimeBox(None)
    >>> box.fits_another()
    True
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from topnet.errors import format_message

__all__ = ["classification_targets", "regression_targets", "spread_columns", "not_fitted", "TimeBox"]


def classification_targets(dataset: Any) -> tuple[np.ndarray, int]:
    """``(y as int64 (N,), num_classes)``; num_classes covers ``dataset.num_classes`` and ``max(y) + 1``.

    Raises:
        ValueError: float or multi-column targets, or fewer than two classes in train.
    """
    y = np.asarray(dataset.y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(format_message("y", f"{y.dtype} of shape {y.shape}", "(N,) integer class ids",
                                        "use task='regression' for float targets"))
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError(format_message("train.y", f"one class {present.tolist()}", "at least 2 classes"))
    return y.astype(np.int64), max(int(dataset.num_classes or 0), int(y.max()) + 1)


def regression_targets(dataset: Any, *, multi_output: bool) -> np.ndarray:
    """Float64 targets: ``(N,)``, or ``(N, K)`` when the member can fit several outputs.

    Raises:
        ValueError: several targets for a member that fits one.
    """
    y = np.asarray(dataset.y, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        return y[:, 0]
    if y.ndim > 1 and not multi_output:
        raise ValueError(format_message("y", f"shape {y.shape}", "one regression target per row",
                                        "use a forest, k-NN, linear or network member for several"))
    return y


def spread_columns(proba: np.ndarray, classes: np.ndarray, num_classes: int) -> np.ndarray:
    """Probabilities over the classes seen in train ``(N, len(classes))`` as ``(N, num_classes)``."""
    out = np.zeros((len(proba), num_classes))
    out[:, classes] = proba
    return out


def not_fitted(label: str, name: str) -> ValueError:
    """The error a member raises when it predicts or saves before ``fit``."""
    return ValueError(f"{label} member {name!r} is not fitted yet; call fit(train, valid) first")


class TimeBox:
    """Whether another step of training fits in ``limit`` seconds, judged by the slowest step so far.

    A member calls ``step_done()`` after each step (a chunk of trees, a chunk of rows) and stops
    when ``fits_another()`` is False: the next step would likely end past the limit. The first
    step always runs, so a member trained on any budget can predict.

    Args:
        limit: seconds; None for no limit.
        clock: the time source (for tests).
    """

    def __init__(self, limit: float | None, clock: Any = time.monotonic) -> None:
        if limit is not None and not limit >= 0:
            raise ValueError(format_message("time_limit", limit, "seconds >= 0, or None for no limit"))
        self.limit = limit
        self.clock = clock
        self.start = clock()
        self.last = self.start
        self.slowest = 0.0

    def step_done(self) -> None:
        now = self.clock()
        self.slowest = max(self.slowest, now - self.last)
        self.last = now

    def fits_another(self) -> bool:
        return self.limit is None or (self.last - self.start) + self.slowest <= self.limit

    def expired(self) -> bool:
        """Whether the limit has passed (for libraries that check once per iteration)."""
        return self.limit is not None and self.clock() - self.start > self.limit
