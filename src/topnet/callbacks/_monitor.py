"""What ``EarlyStopping``, ``ModelCheckpoint`` and ``ReduceLROnPlateau`` share: a monitored value.

A ``Monitor`` knows the name of the quantity in ``state.logs``, whether smaller or larger is
better, and how much better a value must be to count as an improvement.

Direction (``mode="auto"``): Keras 3 asks the compiled metric objects for their direction and
raises when it cannot tell. topnet's metrics are plain names in a flat dict, so the direction
comes from the name (the ``val_`` prefix removed): names ending in ``loss`` and the error-like
metrics below are minimised; accuracy, AUC, precision, recall, F-scores, R², IoU, cosine
similarity and true positives/negatives are maximised; any other name raises a ``ValueError``
at construction asking for ``mode="min"`` or ``mode="max"`` (Keras 3 raises the same at the
first epoch end).

Missing value: Keras warns and skips when the monitored name is not in the logs, which hides a
typo for a whole run; topnet raises a ``ValueError`` at the first epoch end that lists the
available names and the nearest one.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from topnet.errors import format_message, nearest, unknown_name

__all__ = ["Monitor", "resolve_mode", "get_monitor_value"]

MODES = ("auto", "min", "max")

# Substrings of metric names that are better when larger (Keras 3 metrics with direction "up").
_MAX_PARTS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "f_beta", "r2", "iou",
              "cosine_similarity", "true_positives", "true_negatives", "sensitivity",
              "specificity")
# Substrings of metric names that are better when smaller (direction "down").
_MIN_PARTS = ("loss", "error", "mae", "mse", "mape", "msle", "rmse", "crossentropy", "hinge",
              "divergence", "poisson", "logcosh", "log_cosh", "false_positives",
              "false_negatives", "nll", "ece", "brier", "perplexity")


def resolve_mode(monitor: str, mode: str = "auto", owner: str = "callback") -> str:
    """Return ``"min"`` or ``"max"``: ``mode`` itself, or the direction of ``monitor``'s name.

    Args:
        monitor: the log name, e.g. ``"val_accuracy"``.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        owner: the callback's name, for error messages.

    Raises:
        ValueError: ``mode`` is not one of the three, or ``"auto"`` cannot tell the direction.

    Example:
        >>> resolve_mode("val_accuracy"), resolve_mode("val_loss"), resolve_mode("lr", "max")
        ('max', 'min', 'max')
    """
    if mode not in MODES:
        raise unknown_name(f"{owner} mode", mode, MODES)
    if mode != "auto":
        return mode
    name = monitor.lower().removeprefix("val_")
    if name.endswith("loss"):  # "loss", "<output>_loss" (even "acc_head_loss")
        return "min"
    if any(part in name for part in _MAX_PARTS):
        return "max"
    if any(part in name for part in _MIN_PARTS):
        return "min"
    raise ValueError(format_message(
        f"{owner} monitor", monitor, "a name whose direction mode='auto' can infer (a loss, an error, "
        "accuracy, auc, precision, recall, ...)",
        "pass mode='max' to treat larger values as better, or mode='min' for smaller"))


def get_monitor_value(logs: Mapping[str, float], monitor: str, owner: str = "callback") -> float:
    """``logs[monitor]`` as a float.

    Raises:
        ValueError: ``monitor`` is not in ``logs``; the message lists what is.

    Example:
        >>> get_monitor_value({"loss": 0.5, "val_loss": 0.25}, "val_loss")
        0.25
    """
    if monitor in logs:
        return float(logs[monitor])
    available = list(logs)
    message = f"{owner}: monitor={monitor!r} is not in the logs; available: {available}"
    guess = nearest(monitor, available)
    if guess is not None:
        message += f"; did you mean {guess!r}?"
    elif monitor.startswith("val_") and not any(k.startswith("val_") for k in available):
        message += "; val_ metrics exist only when fit() is given validation data"
    raise ValueError(message)


class Monitor:
    """A monitored quantity: its log name, its direction and the smallest change that counts.

    Args:
        monitor: the name in ``state.logs``.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (see the module docstring for ``"auto"``).
        min_delta: an improvement must beat the reference by more than ``abs(min_delta)``.
        owner: the callback's name, for error messages.

    Example:
        >>> m = Monitor("val_loss", min_delta=0.1)
        >>> m.is_improvement(0.5, None), m.is_improvement(0.45, 0.5), m.is_improvement(0.25, 0.5)
        (True, False, True)
    """

    def __init__(self, monitor: str, mode: str = "auto", min_delta: float = 0.0, owner: str = "callback"):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(format_message(f"{owner} monitor", monitor, "a log name such as 'val_loss'"))
        if not isinstance(min_delta, (int, float)) or not math.isfinite(min_delta):
            raise ValueError(format_message(f"{owner} min_delta", min_delta, "a finite number"))
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode, owner)
        self.min_delta = abs(float(min_delta))
        self.owner = owner

    @property
    def worst(self) -> float:
        """The value every real value improves on: ``inf`` when minimising, ``-inf`` when maximising."""
        return math.inf if self.mode == "min" else -math.inf

    def is_improvement(self, current: float, best: float | None) -> bool:
        """Whether ``current`` beats ``best`` by more than ``min_delta`` (always, when ``best`` is None).

        Same comparison as Keras 3 (``monitor_op(current - min_delta, best)``, strict). A NaN
        ``current`` is never an improvement, not even on ``best=None`` (Keras would take a NaN
        as the first best and then never improve on it).
        """
        if best is None:
            return not math.isnan(current)
        if self.mode == "min":
            return current + self.min_delta < best
        return current - self.min_delta > best

    def get(self, logs: Mapping[str, float]) -> float:
        """The monitored value in ``logs``; ``ValueError`` naming what is there when it is missing."""
        return get_monitor_value(logs, self.monitor, self.owner)

    def __repr__(self) -> str:
        return f"Monitor({self.monitor!r}, mode={self.mode!r}, min_delta={self.min_delta})"
