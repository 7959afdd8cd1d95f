"""The basic builders: a multilayer perceptron and a small convnet (the default model)."""
from __future__ import annotations

from collections.abc import Sequence
import math

from torch import nn

from topnet.errors import format_message
from topnet.nn.activations import get_activation
from topnet.nn.init import initialize, initializer_for
from topnet.nn.models.registry import register_model

__all__ = ["mlp", "small_convnet"]


def _check_classes(num_classes: int) -> None:
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(format_message("num_classes", num_classes, "a positive int (1 for regression or a binary logit)"))


def _check_rate(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(format_message(name, value, "a rate in [0, 1)"))


def _check_widths(name: str, values: Sequence[int], allow_empty: bool = True) -> list[int]:
    widths = list(values) if isinstance(values, (list, tuple)) else None
    if widths is None or any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in widths) \
            or (not widths and not allow_empty):
        raise ValueError(format_message(name, values, "a list of positive ints"))
    return widths


def _image_shape(input_shape: Sequence[int], builder: str) -> tuple[int, int, int]:
    """``(channels, height, width)`` from ``input_shape``, or a ValueError naming ``builder``."""
    if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3 \
            or any(not isinstance(d, int) or d < 1 for d in input_shape):
        raise ValueError(format_message("input_shape", input_shape, f"(channels, height, width) for {builder!r}",
                                        "use 'mlp' or 'selu_mlp' for flat inputs"))
    return int(input_shape[0]), int(input_shape[1]), int(input_shape[2])


def _initialize(model: nn.Module, initializer: str | None, activation: str) -> nn.Module:
    """Apply ``initializer`` ("auto": the one that suits ``activation``; None: PyTorch's default)."""
    if initializer is None:
        return model
    return initialize(model, initializer_for(activation) if initializer == "auto" else initializer)


@register_model("mlp")
def mlp(input_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (300, 100),
        dropout: float = 0.0, activation: str = "relu", initializer: str | None = None,
        batch_norm: bool = False) -> nn.Module:
    """A multilayer perceptron: flatten, then dense hidden layers, then a linear output (logits).

    Args:
        input_shape: shape of one sample, e.g. ``(1, 28, 28)`` or ``(20,)``.
        num_classes: output units.
        hidden: widths of the hidden layers.
        dropout: dropout rate after each hidden layer.
        activation: hidden activation name (``topnet.nn.get_activation``).
        initializer: weight initialiser name (``topnet.nn.INITIALIZERS``), ``"auto"`` for the one
            that suits ``activation`` (``initializer_for``), or None for PyTorch's default.
        batch_norm: Linear (no bias) → BatchNorm → activation in each hidden layer.

    Example:
        >>> net = mlp((20,), 3, hidden=(16,), activation="elu", initializer="auto", batch_norm=True)
        >>> [type(m).__name__ for m in net]
        ['Flatten', 'Linear', 'BatchNorm1d', 'ELU', 'Linear']
    """
    _check_classes(num_classes)
    _check_rate("dropout", dropout)
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for units in _check_widths("hidden", hidden):
        if batch_norm:
            layers += [nn.Linear(width, units, bias=False), nn.BatchNorm1d(units), get_activation(activation)]
        else:
            layers += [nn.Linear(width, units), get_activation(activation)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = units
    layers.append(nn.Linear(width, num_classes))
    return _initialize(nn.Sequential(*layers), initializer, activation)


@register_model("small_convnet")
def small_convnet(input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
                  filters: Sequence[int] = (32, 64), dense: int = 128, dropout: float = 0.3,
                  batch_norm: bool = True) -> nn.Module:
    """A small convnet: per stage two 3×3 conv-BN-ReLU layers and a 2×2 max pool, then dense.

    The default model of ``topnet train``: small enough to train well in a few epochs on a
    CPU (its Fashion-MNIST accuracy: docs/measured-defaults.md).

    Args:
        input_shape: ``(channels, height, width)``.
        num_classes: output units (logits).
        filters: channels of each stage; each stage halves height and width.
        dense: width of the hidden dense layer.
        dropout: dropout rate before the output layer.
        batch_norm: BatchNorm after each conv (the conv then has no bias).
    """
    _check_classes(num_classes)
    if len(input_shape) != 3:
        raise ValueError(format_message("input_shape", tuple(input_shape), "(channels, height, width)",
                                        "use the 'mlp' model for flat inputs"))
    channels, height, width = input_shape
    layers: list[nn.Module] = []
    for out in filters:
        for _ in range(2):
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=not batch_norm)]
            layers += [nn.BatchNorm2d(out)] if batch_norm else []
            layers += [nn.ReLU()]
            channels = out
        layers.append(nn.MaxPool2d(2))
        height, width = height // 2, width // 2
    layers += [nn.Flatten(), nn.Linear(channels * height * width, dense), nn.ReLU(),
               nn.Dropout(dropout), nn.Linear(dense, num_classes)]
    return nn.Sequential(*layers)
