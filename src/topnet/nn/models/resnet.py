"""A ResNet for small images (He et al. 2016, the CIFAR variant): residual blocks in stages.

Residual connections (Chollet 7.1.4) carry the signal and its gradient past each pair of
convs, so deep stacks train; Chollet: "adding residual connections to any model that has more
than 10 layers is likely to be beneficial". Depth is ``2 * len(stage_channels) *
blocks_per_stage + 2`` layers (3 stages of 3 blocks: ResNet-20).
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from topnet.errors import format_message
from topnet.nn.blocks import ResidualBlock
from topnet.nn.layers import ConvBNAct
from topnet.nn.models.registry import register_model
from topnet.nn.models.basic import _check_classes, _check_rate, _check_widths, _image_shape, _initialize
from topnet.nn.models.convnets import classifier_head

__all__ = ["resnet"]


@register_model("resnet")
def resnet(input_shape: Sequence[int], num_classes: int, stage_channels: Sequence[int] = (16, 32, 64),
           blocks_per_stage: int = 3, activation: str = "relu", batch_norm: bool = True, dropout: float = 0.0,
           initializer: str | None = "auto") -> nn.Module:
    """A residual network: a 3×3 conv stem, stages of ``ResidualBlock``s, global pooling, logits.

    The first block of every stage after the first has stride 2 (halving height and width,
    with a 1×1 projection shortcut); the others keep the shape (identity shortcuts).

    Args:
        input_shape: ``(channels, height, width)``.
        num_classes: output units (logits).
        stage_channels: channels of each stage; the stem has ``stage_channels[0]``.
        blocks_per_stage: residual blocks per stage.
        activation: activation name.
        batch_norm: BN after each conv.
        dropout: dropout rate before the output layer.
        initializer: initialiser name, ``"auto"`` (suits ``activation``) or None (PyTorch's).

    Example:
        >>> import torch
        >>> net = resnet((3, 16, 16), 10, stage_channels=(4, 8), blocks_per_stage=1)
        >>> tuple(net(torch.zeros(2, 3, 16, 16)).shape)
        (2, 10)
    """
    channels, _, _ = _image_shape(input_shape, "resnet")
    _check_classes(num_classes)
    _check_rate("dropout", dropout)
    stages = _check_widths("stage_channels", stage_channels, allow_empty=False)
    if not isinstance(blocks_per_stage, int) or blocks_per_stage < 1:
        raise ValueError(format_message("blocks_per_stage", blocks_per_stage, "a positive int"))
    layers: list[nn.Module] = [ConvBNAct(channels, stages[0], 3, activation=activation,
                                         bn="before" if batch_norm else None)]
    channels = stages[0]
    for i, out in enumerate(stages):
        for j in range(blocks_per_stage):
            stride = 2 if i > 0 and j == 0 else 1
            layers.append(ResidualBlock(channels, out, stride, activation, batch_norm))
            channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # (batch, channels)
    layers += classifier_head(channels, num_classes, dropout=dropout)
    return _initialize(nn.Sequential(*layers), initializer, activation)
