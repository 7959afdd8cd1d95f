"""Loss functions on logits, looked up by name: ``get_loss("cross_entropy")``.

Models output logits (no softmax or sigmoid layer), so the classification losses here apply
the softmax or sigmoid themselves, in the numerically stable fused form. Every loss takes
``(prediction, target)`` and returns a 0-dim tensor, the mean over the batch (over every
element for per-pixel or multi-output targets). Nothing here synchronises with the device.

Names (case-insensitive), with Keras's names as aliases: ``cross_entropy``
(``categorical_crossentropy``, ``sparse_categorical_crossentropy``), ``binary_cross_entropy``
(``binary_crossentropy``), ``mse`` (``mean_squared_error``), ``mae`` (``mean_absolute_error``),
``huber``.
"""
from __future__ import annotations

import inspect
from typing import Callable

import torch
import torch.nn.functional as F

from topnet.errors import format_message, unknown_name

__all__ = [
    "LOSSES",
    "LOSS_ALIASES",
    "CrossEntropy",
    "BinaryCrossEntropy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "align_prediction",
    "get_loss",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def align_prediction(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Reshape ``prediction`` to ``target``'s shape when they differ only by a trailing 1.

    ``(N, 1)`` against ``(N,)`` would otherwise broadcast to ``(N, N)`` and give a wrong
    loss without an error.

    Raises:
        ValueError: when the shapes differ in any other way.

    Example:
        >>> align_prediction(torch.zeros(4, 1), torch.zeros(4)).shape
        torch.Size([4])
    """
    p, t = tuple(prediction.shape), tuple(target.shape)
    if p == t:
        return prediction
    if p == t + (1,) or t == p + (1,):
        return prediction.reshape(target.shape)
    raise ValueError(format_message(
        "prediction shape", p, f"the target's shape {t} (or that shape with a trailing 1)",
        "one output per target value; for class scores against class indices use cross_entropy"))


class _Loss:
    """Shared repr: the class name and the constructor arguments stored under their names."""

    name = ""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _check_smoothing(label_smoothing: float) -> float:
    if not 0.0 <= float(label_smoothing) < 1.0:
        raise ValueError(format_message("label_smoothing", label_smoothing, "a float in [0, 1)",
                                        "try label_smoothing=0.1"))
    return float(label_smoothing)


class CrossEntropy(_Loss):
    """Softmax cross entropy of logits against class indices or class probabilities.

    Args:
        label_smoothing: in [0, 1); the target becomes ``(1 - s) * y + s / C`` (Keras's rule).

    Call with logits ``(N, C)`` or ``(N, C, d1, ...)`` and either class indices ``(N,)`` /
    ``(N, d1, ...)`` (any int dtype; a float tensor of that shape is read as indices; a
    trailing 1 as in ``(N, 1)`` is dropped) or probabilities of the logits' shape (soft or
    one-hot labels). Indices must lie in ``[0, C)``; they are not checked, since that would
    synchronise with the device.

    Raises:
        ValueError: bad ``label_smoothing``; one logit per sample; mismatched shapes.

    Example:
        >>> loss = CrossEntropy()(torch.zeros(2, 4), torch.tensor([0, 3]))
        >>> round(float(loss), 4)  # uniform logits: log(4)
        1.3863
    """

    name = "cross_entropy"

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = _check_smoothing(label_smoothing)

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if prediction.ndim < 2 or prediction.shape[1] == 1:
            raise ValueError(format_message(
                "prediction shape", tuple(prediction.shape), "(N, C, ...) class logits with C > 1",
                "for one logit per sample use loss='binary_cross_entropy'"))
        index_shape = prediction.shape[:1] + prediction.shape[2:]
        if target.ndim == prediction.ndim and target.shape[1] == 1 and target.shape != prediction.shape:
            target = target.squeeze(1)  # (N, 1) class indices, as Keras's sparse labels often are
        if target.shape == index_shape:
            target = target.long()
        elif target.shape == prediction.shape:
            target = target.to(prediction.dtype)
        else:
            raise ValueError(format_message(
                "target shape", tuple(target.shape),
                f"class indices {tuple(index_shape)} or probabilities {tuple(prediction.shape)}"))
        return F.cross_entropy(prediction, target, label_smoothing=self.label_smoothing)


class BinaryCrossEntropy(_Loss):
    """Sigmoid cross entropy of logits against 0/1 (or soft) targets of the same shape.

    Args:
        label_smoothing: in [0, 1); the target becomes ``(1 - s) * y + s / 2`` (Keras's rule).
        pos_weight: weight of the positive term, a float or a tensor broadcastable to the
            last dimension (one per label); > 1 raises recall. None means 1.

    ``(N, 1)`` logits with ``(N,)`` targets and the reverse are reshaped to the target's
    shape; int and bool targets are cast to float.

    Raises:
        ValueError: bad ``label_smoothing``; mismatched shapes.

    Example:
        >>> round(float(BinaryCrossEntropy()(torch.zeros(3, 1), torch.tensor([0, 1, 1]))), 4)
        0.6931
    """

    name = "binary_cross_entropy"

    def __init__(self, label_smoothing: float = 0.0, pos_weight: float | torch.Tensor | None = None):
        self.label_smoothing = _check_smoothing(label_smoothing)
        self.pos_weight = pos_weight
        self._pos_weight_on: dict[tuple, torch.Tensor] = {}  # one copy per (device, dtype)

    def _pos_weight_like(self, prediction: torch.Tensor) -> torch.Tensor | None:
        if self.pos_weight is None:
            return None
        key = (prediction.device, prediction.dtype)
        if key not in self._pos_weight_on:
            self._pos_weight_on[key] = torch.as_tensor(self.pos_weight).to(*key)
        return self._pos_weight_on[key]

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prediction = align_prediction(prediction, target)
        target = target.to(prediction.dtype)
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return F.binary_cross_entropy_with_logits(
            prediction, target, pos_weight=self._pos_weight_like(prediction))


class _Regression(_Loss):
    """Shared call for the element-wise regression losses."""

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prediction = align_prediction(prediction, target)
        return self._loss(prediction, target.to(prediction.dtype))

    def _loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class MeanSquaredError(_Regression):
    """Mean of ``(prediction - target) ** 2``.

    Example:
        >>> float(MeanSquaredError()(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 0.0])))
        5.0
    """

    name = "mse"

    def _loss(self, prediction, target):
        return F.mse_loss(prediction, target)


class MeanAbsoluteError(_Regression):
    """Mean of ``|prediction - target|``.

    Example:
        >>> float(MeanAbsoluteError()(torch.tensor([1.0, -3.0]), torch.tensor([0.0, 0.0])))
        2.0
    """

    name = "mae"

    def _loss(self, prediction, target):
        return F.l1_loss(prediction, target)


class Huber(_Regression):
    """Huber loss: squared error below ``delta``, linear above it (Keras's and torch's form).

    Args:
        delta: where the loss turns from quadratic to linear; > 0.

    Raises:
        ValueError: ``delta`` not positive.

    Example:
        >>> float(Huber(delta=1.0)(torch.tensor([0.5, 3.0]), torch.tensor([0.0, 0.0])))
        1.3125
    """

    name = "huber"

    def __init__(self, delta: float = 1.0):
        if not float(delta) > 0:
            raise ValueError(format_message("delta", delta, "a positive float", "try delta=1.0"))
        self.delta = float(delta)

    def _loss(self, prediction, target):
        return F.huber_loss(prediction, target, delta=self.delta)


LOSSES: dict[str, type] = {
    "cross_entropy": CrossEntropy,
    "binary_cross_entropy": BinaryCrossEntropy,
    "mse": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "huber": Huber,
}

LOSS_ALIASES: dict[str, str] = {  # Keras's names
    "categorical_crossentropy": "cross_entropy",
    "sparse_categorical_crossentropy": "cross_entropy",
    "binary_crossentropy": "binary_cross_entropy",
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
}


def _build(cls: type, kwargs: dict) -> LossFn:
    """Instantiate a loss class, naming its valid arguments when one is unknown."""
    params = inspect.signature(cls).parameters.values()
    valid = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in params):
        raise TypeError(f"{cls.__name__} got unknown arguments {unknown}; valid arguments: {valid}")
    return cls(**kwargs)


def get_loss(spec: str | LossFn | type, **kwargs) -> LossFn:
    """The loss callable for ``spec``: a name, a loss class, or any ``callable(pred, target)``.

    Args:
        spec: a name from ``LOSSES`` or ``LOSS_ALIASES`` (case-insensitive); a class such as
            ``CrossEntropy`` or ``torch.nn.CrossEntropyLoss`` (instantiated with ``kwargs``);
            or a callable taking ``(prediction, target)``, e.g. a loss object or a
            ``torch.nn`` loss module, returned as is.
        **kwargs: constructor arguments, with a name or a class only.

    Returns:
        A callable ``(prediction, target) -> 0-dim tensor``.

    Raises:
        ValueError: unknown name (listing the valid ones and the nearest); kwargs with a
            ready-made callable.
        TypeError: ``spec`` is not a name or a callable; unknown constructor arguments.

    Example:
        >>> get_loss("categorical_crossentropy", label_smoothing=0.1)
        CrossEntropy(label_smoothing=0.1)
    """
    if isinstance(spec, str):
        key = spec.strip().lower()
        key = LOSS_ALIASES.get(key, key)
        if key not in LOSSES:
            raise unknown_name("loss", spec, [*LOSSES, *LOSS_ALIASES])
        return _build(LOSSES[key], kwargs)
    if isinstance(spec, type):
        return _build(spec, kwargs)
    if not callable(spec):
        raise TypeError(format_message("loss", type(spec).__name__,
                                       "a loss name, a loss class or a callable(prediction, target)",
                                       f"try one of {sorted(LOSSES)}"))
    if kwargs:
        raise ValueError(format_message("loss arguments", kwargs, "none with a ready-made loss",
                                        "set them when building the loss object"))
    return spec
