"""Plain and depthwise-separable convnets with the knobs a tuner varies.

Both builders stack stages of conv-BN-activation layers, halve height and width with a 2×2
max pool after each stage, then pool globally (so any image size works) and classify with an
optional hidden dense layer. ``separable_convnet`` swaps every conv for a
``SeparableConv2d`` (Chollet 7.3.1: lighter, faster, often better on small data).
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from topnet.errors import format_message
from topnet.nn.activations import get_activation
from topnet.nn.layers import ConvBNAct
from topnet.nn.models.registry import register_model
from topnet.nn.models.basic import _check_classes, _check_rate, _check_widths, _image_shape, _initialize

__all__ = ["convnet", "separable_convnet", "classifier_head", "conv_stages"]


def classifier_head(in_features: int, num_classes: int, dense: int = 0, dropout: float = 0.0,
                    activation: str = "relu") -> list[nn.Module]:
    """Layers from pooled features to logits: [Linear → activation] → [Dropout] → Linear.

    Example:
        >>> [type(m).__name__ for m in classifier_head(64, 10, dense=32, dropout=0.5)]
        ['Linear', 'ReLU', 'Dropout', 'Linear']
    """
    layers: list[nn.Module] = []
    if dense:
        layers += [nn.Linear(in_features, dense), get_activation(activation)]
        in_features = dense
    if dropout:
        layers.append(nn.Dropout(dropout))
    return layers + [nn.Linear(in_features, num_classes)]


def conv_stages(channels: int, filters: Sequence[int], convs_per_stage: int, kernel_size: int, activation: str,
                batch_norm: bool, *, dims: int = 2, separable: bool = False) -> tuple[list[nn.Module], int]:
    """Stages of conv-BN-activation layers, each ending with a max pool of 2 (halving height
    and width, or the length for ``dims=1``); returns ``(layers, channels out)``.

    Example:
        >>> layers, out = conv_stages(1, [4, 8], 1, 3, "relu", True, dims=1)
        >>> [type(m).__name__ for m in layers][-2:], out
        (['ConvBNAct', 'MaxPool1d'], 8)
    """
    layers: list[nn.Module] = []
    for width in filters:
        for _ in range(convs_per_stage):
            layers.append(ConvBNAct(channels, width, kernel_size, activation=activation,
                                    bn="before" if batch_norm else None, separable=separable, dims=dims))
            channels = width
        layers.append(nn.MaxPool2d(2) if dims == 2 else nn.MaxPool1d(2))
    return layers, channels


def _build(builder: str, input_shape: Sequence[int], num_classes: int, filters: Sequence[int],
           convs_per_stage: int, kernel_size: int, activation: str, batch_norm: bool, dropout: float,
           dense: int, initializer: str | None, separable: bool) -> nn.Module:
    channels, height, width = _image_shape(input_shape, builder)
    _check_classes(num_classes)
    _check_rate("dropout", dropout)
    filters = _check_widths("filters", filters, allow_empty=False)
    if not isinstance(convs_per_stage, int) or convs_per_stage < 1:
        raise ValueError(format_message("convs_per_stage", convs_per_stage, "a positive int"))
    if not isinstance(dense, int) or dense < 0:
        raise ValueError(format_message("dense", dense, "a non-negative int (0: no hidden dense layer)"))
    if min(height, width) < 2 ** len(filters):
        raise ValueError(format_message("input_shape", tuple(input_shape), f"height and width >= {2 ** len(filters)} "
                                        f"for {len(filters)} stages (each halves them)", "use fewer filters"))
    layers, channels = conv_stages(channels, filters, convs_per_stage, kernel_size, activation, batch_norm,
                                   separable=separable)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # (batch, channels)
    layers += classifier_head(channels, num_classes, dense, dropout, activation)
    return _initialize(nn.Sequential(*layers), initializer, activation)


@register_model("convnet")
def convnet(input_shape: Sequence[int], num_classes: int, filters: Sequence[int] = (32, 64),
            convs_per_stage: int = 2, kernel_size: int = 3, activation: str = "relu", batch_norm: bool = True,
            dropout: float = 0.0, dense: int = 128, initializer: str | None = "auto") -> nn.Module:
    """A convnet of conv-BN-activation stages, global average pooling and a dense head.

    Args:
        input_shape: ``(channels, height, width)``; height and width >= ``2 ** len(filters)``.
        num_classes: output units (logits).
        filters: channels of each stage; each stage ends with a 2×2 max pool.
        convs_per_stage: conv layers per stage.
        kernel_size: conv kernel size ("same" padding).
        activation: activation name.
        batch_norm: BN before each activation (convs then have no bias).
        dropout: dropout rate before the output layer.
        dense: width of the hidden dense layer (0: none).
        initializer: initialiser name, ``"auto"`` (suits ``activation``) or None (PyTorch's).

    Example:
        >>> import torch
        >>> net = convnet((1, 16, 16), 10, filters=(4, 8), dense=16)
        >>> tuple(net(torch.zeros(2, 1, 16, 16)).shape)
        (2, 10)
    """
    return _build("convnet", input_shape, num_classes, filters, convs_per_stage, kernel_size, activation,
                  batch_norm, dropout, dense, initializer, separable=False)


@register_model("separable_convnet")
def separable_convnet(input_shape: Sequence[int], num_classes: int, filters: Sequence[int] = (32, 64, 128),
                      convs_per_stage: int = 2, kernel_size: int = 3, activation: str = "relu",
                      batch_norm: bool = True, dropout: float = 0.0, dense: int = 32,
                      initializer: str | None = "auto") -> nn.Module:
    """``convnet`` with depthwise separable convolutions (``SeparableConv2d``) throughout.

    Args: as for ``convnet``; the defaults follow Chollet's separable convnet (three stages,
    a 32-unit dense layer), with "same" padding and BatchNorm.

    Example:
        >>> import torch
        >>> net = separable_convnet((3, 16, 16), 10, filters=(8, 16))
        >>> tuple(net(torch.zeros(2, 3, 16, 16)).shape)
        (2, 10)
    """
    return _build("separable_convnet", input_shape, num_classes, filters, convs_per_stage, kernel_size,
                  activation, batch_norm, dropout, dense, initializer, separable=True)
