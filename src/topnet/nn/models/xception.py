"""Xception (Chollet 2017): "extreme Inception" of depthwise separable convs with residuals.

Entry flow (a strided conv stem and downsampling blocks), middle flow (residual blocks of three
separable convs), exit flow (a last downsampling block, two separable convs and global average
pooling), then the logits. The defaults are the paper's ImageNet widths (about 21 million
parameters); narrow them for small images, e.g. ``stem_channels=(16, 32),
entry_channels=(64, 128, 256), middle_blocks=4, exit_channels=(256, 384),
final_channels=(512, 768)``.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from topnet.errors import format_message
from topnet.nn.blocks import XceptionEntryFlow, XceptionExitFlow, XceptionMiddleFlow
from topnet.nn.models.registry import register_model
from topnet.nn.models.basic import _check_classes, _check_rate, _check_widths, _image_shape, _initialize
from topnet.nn.models.convnets import classifier_head

__all__ = ["xception_net"]


def _pair(name: str, values: Sequence[int]) -> list[int]:
    widths = _check_widths(name, values)
    if len(widths) != 2:
        raise ValueError(format_message(name, values, "two positive ints"))
    return widths


@register_model("xception_net")
def xception_net(input_shape: Sequence[int], num_classes: int, stem_channels: Sequence[int] = (32, 64),
                 entry_channels: Sequence[int] = (128, 256, 728), middle_blocks: int = 8,
                 exit_channels: Sequence[int] = (728, 1024), final_channels: Sequence[int] = (1536, 2048),
                 activation: str = "relu", dropout: float = 0.0, initializer: str | None = "auto") -> nn.Module:
    """Xception: entry, middle and exit flows, then a linear layer to the logits.

    Height and width shrink by ``2 ** (2 + len(entry_channels))`` (rounded up; never below 1).
    Every conv is followed by BatchNorm, as in the paper.

    Args:
        input_shape: ``(channels, height, width)``.
        num_classes: output units (logits).
        stem_channels: the entry flow's two stem convs.
        entry_channels: the entry flow's downsampling blocks.
        middle_blocks: the middle flow's residual blocks (at ``entry_channels[-1]`` channels).
        exit_channels: the exit flow's downsampling block (two separable convs).
        final_channels: the exit flow's last two separable convs.
        activation: activation name.
        dropout: dropout rate before the output layer.
        initializer: initialiser name, ``"auto"`` (suits ``activation``) or None (PyTorch's).

    Example:
        >>> import torch
        >>> net = xception_net((3, 16, 16), 10, stem_channels=(4, 8), entry_channels=(8, 16),
        ...                    middle_blocks=1, exit_channels=(16, 16), final_channels=(16, 32))
        >>> tuple(net(torch.zeros(2, 3, 16, 16)).shape)
        (2, 10)
    """
    channels, _, _ = _image_shape(input_shape, "xception_net")
    _check_classes(num_classes)
    _check_rate("dropout", dropout)
    if not isinstance(middle_blocks, int) or middle_blocks < 0:
        raise ValueError(format_message("middle_blocks", middle_blocks, "a non-negative int"))
    entry = XceptionEntryFlow(channels, _pair("stem_channels", stem_channels),
                              _check_widths("entry_channels", entry_channels), activation)
    middle = XceptionMiddleFlow(entry.out_channels, middle_blocks, activation)
    exit_flow = XceptionExitFlow(entry.out_channels, _pair("exit_channels", exit_channels),
                                 _pair("final_channels", final_channels), activation)
    head = classifier_head(exit_flow.out_features, num_classes, dropout=dropout)
    return _initialize(nn.Sequential(entry, middle, exit_flow, *head), initializer, activation)
