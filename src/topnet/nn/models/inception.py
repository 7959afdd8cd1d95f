"""A small Inception network (Szegedy et al. 2014): a conv stem and stacked Inception modules.

Each module splits into four branches (1×1; 1×1 → 3×3; 1×1 → 5×5; pool → 1×1) that learn
channel-wise and spatial features separately (Chollet 7.1.3). Branch widths follow GoogLeNet's
module 3a relative to one ``width``: 1×1 ``2w``; 3×3 ``3w → 4w``; 5×5 ``w/2 → w``; pool ``w``;
so a module outputs ``8w`` channels.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from topnet.errors import format_message
from topnet.nn.blocks import InceptionModule
from topnet.nn.layers import ConvBNAct
from topnet.nn.models.registry import register_model
from topnet.nn.models.basic import _check_classes, _check_rate, _image_shape, _initialize
from topnet.nn.models.convnets import classifier_head

__all__ = ["inception_net"]


@register_model("inception_net")
def inception_net(input_shape: Sequence[int], num_classes: int, stem_channels: int = 32, num_modules: int = 3,
                  width: int = 16, factorize_5x5: bool = False, activation: str = "relu", batch_norm: bool = True,
                  dropout: float = 0.0, initializer: str | None = "auto") -> nn.Module:
    """Conv stem, ``num_modules`` Inception modules with 3×3 stride-2 max pools between them, logits.

    Args:
        input_shape: ``(channels, height, width)``.
        num_classes: output units (logits).
        stem_channels: channels of the 3×3 conv stem.
        num_modules: Inception modules (a pool halves height and width between two modules).
        width: the branch-width unit ``w`` (a module outputs ``8 * width`` channels).
        factorize_5x5: two 3×3 convs in place of each 5×5 (Inception v2).
        activation: activation name.
        batch_norm: BN before each activation.
        dropout: dropout rate before the output layer.
        initializer: initialiser name, ``"auto"`` (suits ``activation``) or None (PyTorch's).

    Example:
        >>> import torch
        >>> net = inception_net((1, 16, 16), 10, stem_channels=8, num_modules=2, width=4)
        >>> tuple(net(torch.zeros(2, 1, 16, 16)).shape)
        (2, 10)
    """
    channels, _, _ = _image_shape(input_shape, "inception_net")
    _check_classes(num_classes)
    _check_rate("dropout", dropout)
    for name, value in (("stem_channels", stem_channels), ("num_modules", num_modules), ("width", width)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(format_message(name, value, "a positive int"))
    layers: list[nn.Module] = [ConvBNAct(channels, stem_channels, 3, activation=activation,
                                         bn="before" if batch_norm else None)]
    channels = stem_channels
    for i in range(num_modules):
        if i:
            layers.append(nn.MaxPool2d(3, stride=2, padding=1))  # height and width halved (rounded up)
        module = InceptionModule(channels, 2 * width, 3 * width, 4 * width, max(1, width // 2), width, width,
                                 activation=activation, batch_norm=batch_norm, factorize_5x5=factorize_5x5)
        layers.append(module)
        channels = module.out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # (batch, 8 * width)
    layers += classifier_head(channels, num_classes, dropout=dropout)
    return _initialize(nn.Sequential(*layers), initializer, activation)
