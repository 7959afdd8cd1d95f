"""The building blocks of Chollet 7.1 and Géron 11: residual, Inception, Xception, SELU stacks.

Each block is a plain ``nn.Module`` taking and returning one tensor. Image blocks take
``(batch, channels, height, width)`` and use PyTorch's BatchNorm defaults (momentum 0.1, i.e.
Keras's 0.9); ``topnet.nn.batch_norm`` builds one with Keras's.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn

from topnet.errors import format_message
from topnet.nn.activations import get_activation
from topnet.nn.init import initialize
from topnet.nn.layers import ConvBNAct, SeparableConv2d

__all__ = ["ResidualBlock", "InceptionModule", "XceptionEntryFlow", "XceptionMiddleFlow", "XceptionExitFlow", "SELUStack"]


def _norm(channels: int, enabled: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if enabled else nn.Identity()


class ResidualBlock(nn.Module):
    """Two 3×3 convs with a shortcut added before the last activation (He et al. 2016).

    The shortcut is the identity when the shapes match, else a strided 1×1 conv (+ BN) that
    projects the input to ``out_channels`` and downsamples it (Chollet's "linear residual").

    Args:
        in_channels, out_channels: channels in and out.
        stride: stride of the first conv and of the projection (2 halves height and width).
        activation: activation name.
        batch_norm: BN after each conv (the convs then have no bias).

    Example:
        >>> block = ResidualBlock(8, 16, stride=2)
        >>> tuple(block(torch.zeros(2, 8, 16, 16)).shape), type(block.shortcut[0]).__name__
        ((2, 16, 8, 8), 'Conv2d')
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, activation: str = "relu",
                 batch_norm: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBNAct(in_channels, out_channels, 3, stride, activation, "before" if batch_norm else None),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=not batch_norm),
            _norm(out_channels, batch_norm))
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=not batch_norm),
                                          _norm(out_channels, batch_norm))
        self.act = get_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class InceptionModule(nn.Module):
    """The four-branch Inception module (Szegedy et al. 2014), branches concatenated.

    Branches: 1×1; 1×1 → 3×3; 1×1 → 5×5 (or two 3×3, Inception v2's factorisation);
    3×3 max pool → 1×1. The 1×1 convs mix channels, the larger ones learn spatial features.
    Every conv is conv-BN-activation with "same" padding, so height and width are kept.

    Args:
        in_channels: input channels.
        ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj: each branch's channels.
        activation: activation name.
        batch_norm: BN before each activation.
        factorize_5x5: two 3×3 convs instead of the 5×5 one.

    Example:
        >>> module = InceptionModule(8, 4, 4, 8, 2, 4, 4)
        >>> module.out_channels, tuple(module(torch.zeros(1, 8, 16, 16)).shape)
        (20, (1, 20, 16, 16))
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3_reduce: int, ch3x3: int, ch5x5_reduce: int,
                 ch5x5: int, pool_proj: int, activation: str = "relu", batch_norm: bool = True,
                 factorize_5x5: bool = False) -> None:
        super().__init__()
        bn = "before" if batch_norm else None

        def conv(cin: int, cout: int, k: int) -> nn.Module:
            return ConvBNAct(cin, cout, k, activation=activation, bn=bn)

        wide = [conv(ch5x5_reduce, ch5x5, 3), conv(ch5x5, ch5x5, 3)] if factorize_5x5 else [conv(ch5x5_reduce, ch5x5, 5)]
        self.branch1 = conv(in_channels, ch1x1, 1)
        self.branch3 = nn.Sequential(conv(in_channels, ch3x3_reduce, 1), conv(ch3x3_reduce, ch3x3, 3))
        self.branch5 = nn.Sequential(conv(in_channels, ch5x5_reduce, 1), *wide)
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv(in_channels, pool_proj, 1))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)  # (batch, out_channels, h, w)


def _separable(cin: int, cout: int, activation: str | None) -> list[nn.Module]:
    """[activation] → 3×3 separable conv → BN: Xception's unit (activation first, as in the paper)."""
    head = [get_activation(activation)] if activation else []
    return [*head, SeparableConv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout)]


class _XceptionDownBlock(nn.Module):
    """Two separable units and a stride-2 max pool, plus a strided 1×1 conv shortcut."""

    def __init__(self, in_channels: int, channels: Sequence[int], activation: str, first_activation: bool) -> None:
        super().__init__()
        c1, c2 = channels
        self.body = nn.Sequential(*_separable(in_channels, c1, activation if first_activation else None),
                                  *_separable(c1, c2, activation), nn.MaxPool2d(3, stride=2, padding=1))
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, c2, 1, stride=2, bias=False), nn.BatchNorm2d(c2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class XceptionEntryFlow(nn.Module):
    """Xception's entry flow (Chollet 2017): a strided conv stem, then downsampling blocks.

    Stem: 3×3 conv (stride 2) and 3×3 conv, each with BN and activation. Each block: two
    separable convs and a 3×3 stride-2 max pool, with a strided 1×1 conv shortcut. Height and
    width shrink by ``2 ** (1 + len(block_channels))`` (rounded up).

    Args:
        in_channels: image channels.
        stem_channels: the two stem convs' channels (paper: 32, 64).
        block_channels: each block's channels (paper: 128, 256, 728).
        activation: activation name.

    Example:
        >>> flow = XceptionEntryFlow(3, (8, 8), (8, 16))
        >>> flow.out_channels, tuple(flow(torch.zeros(1, 3, 16, 16)).shape)
        (16, (1, 16, 2, 2))
    """

    def __init__(self, in_channels: int, stem_channels: Sequence[int] = (32, 64),
                 block_channels: Sequence[int] = (128, 256, 728), activation: str = "relu") -> None:
        super().__init__()
        s1, s2 = stem_channels
        self.stem = nn.Sequential(ConvBNAct(in_channels, s1, 3, stride=2, activation=activation),
                                  ConvBNAct(s1, s2, 3, activation=activation))
        blocks, channels = [], s2
        for i, width in enumerate(block_channels):
            blocks.append(_XceptionDownBlock(channels, (width, width), activation, first_activation=i > 0))
            channels = width
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class XceptionMiddleFlow(nn.Module):
    """Xception's middle flow: ``num_blocks`` × (3 × [activation, separable conv, BN]) + identity.

    Example:
        >>> tuple(XceptionMiddleFlow(8, num_blocks=2)(torch.zeros(1, 8, 4, 4)).shape)
        (1, 8, 4, 4)
    """

    def __init__(self, channels: int = 728, num_blocks: int = 8, activation: str = "relu") -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(*[m for _ in range(3) for m in _separable(channels, channels, activation)])
                                    for _ in range(num_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return x


class XceptionExitFlow(nn.Module):
    """Xception's exit flow: a downsampling block, two separable convs, global average pooling.

    Args:
        in_channels: channels from the middle flow (paper: 728).
        block_channels: the downsampling block's two separable convs (paper: 728, 1024).
        final_channels: the last two separable convs (paper: 1536, 2048).
        activation: activation name.

    Returns (forward):
        Features ``(batch, final_channels[-1])``.

    Example:
        >>> flow = XceptionExitFlow(8, (8, 16), (16, 32))
        >>> flow.out_features, tuple(flow(torch.zeros(2, 8, 4, 4)).shape)
        (32, (2, 32))
    """

    def __init__(self, in_channels: int = 728, block_channels: Sequence[int] = (728, 1024),
                 final_channels: Sequence[int] = (1536, 2048), activation: str = "relu") -> None:
        super().__init__()
        self.block = _XceptionDownBlock(in_channels, block_channels, activation, first_activation=True)
        f1, f2 = final_channels
        self.head = nn.Sequential(*_separable(block_channels[-1], f1, None), get_activation(activation),
                                  *_separable(f1, f2, None), get_activation(activation),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_features = f2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(x))


class SELUStack(nn.Module):
    """Dense SELU layers that self-normalise (Klambauer et al. 2017; Géron ch. 11).

    Self-normalisation needs standardised inputs, LeCun normal weights, only dense layers in
    a plain stack and no BatchNorm; regularise with AlphaDropout, which keeps the mean and
    variance. On its first forward pass in training mode the stack warns once when the
    batch's overall mean and std are far from 0 and 1 (``|mean| > 0.5`` or std outside
    ``[0.5, 2]``).

    Args:
        in_features: input features (flatten images first).
        units: width of each layer.
        num_layers: number of Linear-SELU layers.
        dropout: AlphaDropout rate after each layer (0: none).
        batch_norm: must stay False (BatchNorm breaks self-normalisation).

    Raises:
        ValueError: ``batch_norm=True``; a dropout rate outside [0, 1).

    Example:
        >>> stack = SELUStack(20, 16, 3, dropout=0.1)
        >>> tuple(stack(torch.randn(4, 20)).shape)
        (4, 16)
    """

    def __init__(self, in_features: int, units: int, num_layers: int, dropout: float = 0.0,
                 batch_norm: bool = False) -> None:
        super().__init__()
        if batch_norm:
            raise ValueError(format_message("batch_norm", batch_norm, "False for a SELU stack",
                                            "SELU self-normalises; BatchNorm breaks it: drop it, or use ELU + BatchNorm"))
        if not 0.0 <= dropout < 1.0:
            raise ValueError(format_message("dropout", dropout, "a rate in [0, 1)"))
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers += [nn.Linear(in_features if i == 0 else units, units), nn.SELU()]
            layers += [nn.AlphaDropout(dropout)] if dropout else []
        self.layers = initialize(nn.Sequential(*layers), "lecun_normal")
        self.out_features = units if num_layers else in_features
        self._input_checked = False  # a Python flag, not state: checked once per instance

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not self._input_checked:
            self._input_checked = True
            self._check_standardised(x)
        return self.layers(x)

    @staticmethod
    def _check_standardised(x: torch.Tensor) -> None:
        if x.numel() < 2:
            return
        with torch.no_grad():
            mean, std = (float(v) for v in torch.std_mean(x.detach().float())[::-1])
        if abs(mean) > 0.5 or not 0.5 <= std <= 2.0:
            warnings.warn(f"SELUStack input has mean {mean:.3g} and std {std:.3g}; self-normalisation needs "
                          "standardised inputs (mean 0, std 1): standardise the features first "
                          "(topnet.data.standardize)", UserWarning, stacklevel=3)
