"""A self-normalising MLP (Klambauer et al. 2017; Géron ch. 11): SELU, LeCun init, AlphaDropout.

Géron: if you build a network of only dense layers with SELU everywhere, standardised inputs
and LeCun normal weights, each layer's outputs keep mean 0 and std 1 during training, which
solves vanishing and exploding gradients; it often beats other activations in deep MLPs.
``SELUStack`` enforces the conditions (no BatchNorm; it warns on unstandardised inputs).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from topnet.errors import format_message
from topnet.nn.blocks import SELUStack
from topnet.nn.init import initialize
from topnet.nn.models.registry import register_model
from topnet.nn.models.basic import _check_classes, _check_rate

__all__ = ["selu_mlp"]


@register_model("selu_mlp")
def selu_mlp(input_shape: Sequence[int], num_classes: int, units: int = 100, num_layers: int = 8,
             dropout: float = 0.0) -> nn.Module:
    """Flatten, ``num_layers`` dense SELU layers of ``units``, then a linear output (logits).

    Args:
        input_shape: shape of one sample; inputs must be standardised (mean 0, std 1).
        num_classes: output units.
        units: width of each hidden layer.
        num_layers: hidden layers.
        dropout: AlphaDropout rate after each hidden layer (0.05 to 0.1 is usual).

    Raises:
        ValueError: non-positive ``units`` or ``num_layers``; a dropout rate outside [0, 1).

    Example:
        >>> import torch
        >>> net = selu_mlp((1, 8, 8), 10, units=16, num_layers=3)
        >>> tuple(net(torch.randn(4, 1, 8, 8)).shape)
        (4, 10)
    """
    _check_classes(num_classes)
    _check_rate("dropout", dropout)
    for name, value in (("units", units), ("num_layers", num_layers)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(format_message(name, value, "a positive int"))
    stack = SELUStack(math.prod(input_shape), units, num_layers, dropout)
    output = initialize(nn.Linear(units, num_classes), "lecun_normal")
    return nn.Sequential(nn.Flatten(), stack, output)
