"""Metrics that accumulate on the device over an epoch: ``get_metric("accuracy")``.

A ``Metric`` keeps a running sum (a tensor on the prediction's device) and a count (a Python
int, known from shapes), so ``update`` never waits for the device; only reading the value
with ``float(metric.compute())`` does, once per epoch. The epoch value weights every sample
equally, so it equals the metric over all samples at once, whatever the batch sizes.

Names (case-insensitive): ``accuracy`` (``acc``), ``top_k_accuracy`` (k=5), ``top_N_accuracy``
for any N, ``mae`` (``mean_absolute_error``), ``mse`` (``mean_squared_error``). A metric built
from a name logs under that name, as in Keras.
"""
from __future__ import annotations

import re
from typing import Callable

import torch

from topnet.errors import format_message, unknown_name
from topnet.train.losses import align_prediction

__all__ = [
    "METRICS",
    "METRIC_ALIASES",
    "Metric",
    "Accuracy",
    "TopKAccuracy",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "FunctionMetric",
    "get_metric",
]


class Metric:
    """Base class: a sample-weighted mean accumulated over batches without a device sync.

    Subclasses implement ``batch_sum(prediction, target) -> (sum tensor, count)``.

    Args:
        name: the key the metric logs under.
    """

    name = "metric"

    def __init__(self, name: str | None = None):
        if name is not None:
            self.name = name
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen."""
        self.total: torch.Tensor | None = None  # 0-dim, on the device of the predictions
        self.count = 0  # samples (elements) seen

    @torch.no_grad()
    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch; ``prediction`` is the model's output (logits), ``target`` the labels."""
        batch_total, batch_count = self.batch_sum(prediction.detach(), target)
        # float64 where the device has it: exact counts and sums over any epoch size
        dtype = torch.float32 if batch_total.device.type == "mps" else torch.float64
        batch_total = batch_total.to(dtype)
        self.total = batch_total if self.total is None else self.total + batch_total
        self.count += batch_count

    def compute(self) -> torch.Tensor:
        """The mean so far, a 0-dim tensor on the device (NaN before any update)."""
        if self.total is None or self.count == 0:
            return torch.tensor(float("nan"))
        return self.total / self.count

    def batch_sum(self, prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The batch's sum of per-sample values (a 0-dim tensor) and how many samples it covers."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _class_indices(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class-index targets (N, ...) for class logits (N, C, ...), from indices or probabilities."""
    if target.shape == prediction.shape:
        return target.argmax(dim=1)  # one-hot or soft labels
    if target.ndim == prediction.ndim and target.shape[1] == 1:
        target = target.squeeze(1)
    if target.shape != prediction.shape[:1] + prediction.shape[2:]:
        raise ValueError(format_message(
            "target shape", tuple(target.shape),
            f"class indices {tuple(prediction.shape[:1] + prediction.shape[2:])} "
            f"or probabilities {tuple(prediction.shape)}"))
    return target.long()


class Accuracy(Metric):
    """Fraction of correct predictions, categorical or binary depending on the logits' shape.

    Logits ``(N, C, ...)`` with C > 1: categorical accuracy of ``argmax`` against class
    indices (or against the argmax of probability targets). Logits ``(N,)`` or ``(N, 1)``:
    binary accuracy, predicting 1 where the logit is > 0 (probability > 0.5) against targets
    > 0.5.

    Args:
        mode: "auto" (as above), "categorical" or "binary" (element-wise, e.g. multi-label
            logits ``(N, L)`` against 0/1 targets ``(N, L)``).
        name: the log key.

    Example:
        >>> acc = Accuracy()
        >>> acc.update(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
        >>> float(acc.compute())
        0.5
    """

    name = "accuracy"

    def __init__(self, mode: str = "auto", name: str | None = None):
        if mode not in ("auto", "categorical", "binary"):
            raise ValueError(format_message("mode", mode, "'auto', 'categorical' or 'binary'"))
        self.mode = mode
        super().__init__(name)

    def batch_sum(self, prediction, target):
        binary = self.mode == "binary" or (
            self.mode == "auto" and (prediction.ndim == 1 or prediction.shape[1] == 1))
        if binary:
            prediction = align_prediction(prediction, target)
            correct = (prediction > 0) == (target.float() > 0.5)
        else:
            correct = prediction.argmax(dim=1) == _class_indices(prediction, target)
        return correct.sum(), correct.numel()


class TopKAccuracy(Metric):
    """Fraction of samples whose true class is among the ``k`` highest logits.

    Args:
        k: how many of the top classes count as a hit; >= 1.
        name: the log key; ``"top_{k}_accuracy"`` by default.

    Example:
        >>> top2 = TopKAccuracy(k=2)
        >>> top2.update(torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]]), torch.tensor([1, 2]))
        >>> top2.name, float(top2.compute())
        ('top_2_accuracy', 0.5)
    """

    def __init__(self, k: int = 5, name: str | None = None):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(format_message("k", k, "a positive int", "try k=5"))
        self.k = k
        super().__init__(name or f"top_{k}_accuracy")

    def batch_sum(self, prediction, target):
        if prediction.ndim < 2 or prediction.shape[1] < self.k:
            raise ValueError(format_message(
                "prediction shape", tuple(prediction.shape), f"(N, C, ...) logits with C >= k={self.k}"))
        top = prediction.topk(self.k, dim=1).indices  # (N, k, ...)
        hit = (top == _class_indices(prediction, target).unsqueeze(1)).any(dim=1)
        return hit.sum(), hit.numel()


class MeanAbsoluteError(Metric):
    """Mean of ``|prediction - target|`` over all elements."""

    name = "mae"

    def batch_sum(self, prediction, target):
        prediction = align_prediction(prediction, target).float()
        return (prediction - target.float()).abs().sum(), prediction.numel()


class MeanSquaredError(Metric):
    """Mean of ``(prediction - target) ** 2`` over all elements."""

    name = "mse"

    def batch_sum(self, prediction, target):
        prediction = align_prediction(prediction, target).float()
        return (prediction - target.float()).square().sum(), prediction.numel()


class FunctionMetric(Metric):
    """A batch-size-weighted mean of ``fn(prediction, target)`` over batches.

    ``fn`` returns the batch mean (0-dim) or one value per sample (``(N,)``).

    Args:
        fn: callable ``(prediction, target) -> tensor``.
        name: the log key; ``fn``'s ``name`` attribute or ``__name__`` by default.
    """

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], name: str | None = None):
        name = name or getattr(fn, "name", None) or getattr(fn, "__name__", None) or type(fn).__name__
        if name == "<lambda>":
            raise ValueError(format_message("metric", "a lambda", "a function with a name",
                                            "define it with def, or use FunctionMetric(fn, name='...')"))
        self.fn = fn
        super().__init__(name)

    def batch_sum(self, prediction, target):
        value = torch.as_tensor(self.fn(prediction, target))
        if value.ndim == 0:
            count = prediction.shape[0] if prediction.ndim else 1
            return value * count, count
        return value.sum(), value.numel()


METRICS: dict[str, Callable[[], Metric]] = {
    "accuracy": Accuracy,
    "top_k_accuracy": TopKAccuracy,
    "mae": MeanAbsoluteError,
    "mse": MeanSquaredError,
}

METRIC_ALIASES: dict[str, str] = {
    "acc": "accuracy",
    "mean_absolute_error": "mae",
    "mean_squared_error": "mse",
}

_TOP_N = re.compile(r"top_(\d+)_accuracy")


def get_metric(spec: str | Metric | Callable) -> Metric:
    """A fresh ``Metric`` for ``spec``: a name, a ``Metric`` (returned as is) or a function.

    Args:
        spec: a name from ``METRICS`` or ``METRIC_ALIASES`` or ``"top_N_accuracy"``
            (case-insensitive; the metric logs under that name); a ``Metric``; or a callable
            ``(prediction, target) -> tensor`` wrapped in ``FunctionMetric``.

    Returns:
        A ``Metric``.

    Raises:
        ValueError: unknown name (listing the valid ones and the nearest); a lambda.
        TypeError: ``spec`` is neither a name, a ``Metric`` nor a callable.

    Example:
        >>> get_metric("top_3_accuracy").k
        3
    """
    if isinstance(spec, Metric):
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower()
        match = _TOP_N.fullmatch(key)
        if match:
            return TopKAccuracy(k=int(match.group(1)), name=key)
        canonical = METRIC_ALIASES.get(key, key)
        if canonical not in METRICS:
            raise unknown_name("metric", spec, [*METRICS, *METRIC_ALIASES, "top_N_accuracy"])
        return METRICS[canonical](name=key)
    if isinstance(spec, type) and issubclass(spec, Metric):
        return spec()
    if callable(spec):
        return FunctionMetric(spec)
    raise TypeError(format_message("metric", type(spec).__name__, "a metric name, a Metric or a callable",
                                   f"try one of {sorted(METRICS)}"))
