"""Layers the books use that PyTorch spells differently: separable convs, conv-BN-act, Keras BN.

* ``SeparableConv2d``: Keras's ``SeparableConv2D`` (Chollet 7.3.1): a depthwise spatial conv
  per input channel, then a 1×1 pointwise conv that mixes channels. Fewer parameters and
  FLOPs than ``Conv2d``, and often better features on small data.
* ``ConvBNAct``: conv, BatchNorm and activation in the order Géron discusses (BN before the
  activation by default; the conv then has no bias, since BN's offset replaces it).
* ``batch_norm``: a BatchNorm built with Keras's conventions (``momentum=0.99``,
  ``eps=1e-3``), converted to PyTorch's: Keras updates ``moving = m * moving + (1 - m) *
  batch``, PyTorch ``running = (1 - m') * running + m' * batch``, so ``m' = 1 - m``.
* ``BatchRenorm1d`` / ``BatchRenorm2d``: Batch Renormalization (Ioffe 2017), BatchNorm that
  keeps working with small or non-i.i.d. batches.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from topnet.errors import format_message
from topnet.nn.activations import get_activation

__all__ = ["SeparableConv2d", "ConvBNAct", "BatchRenorm1d", "BatchRenorm2d", "batch_norm", "conv_padding"]


def conv_padding(kernel_size: int, stride: int, padding: str | int) -> str | int:
    """PyTorch padding for Keras's ``"same"`` / ``"valid"`` or an int, at any stride.

    ``"same"`` at stride 1 is PyTorch's ``"same"``; at stride s > 1 it pads ``k // 2`` on each
    side (odd ``k``), which gives Keras's output size ``ceil(n / s)``.

    Raises:
        ValueError: an unknown padding, or ``"same"`` with an even kernel at stride > 1.

    Example:
        >>> conv_padding(3, 1, "same"), conv_padding(3, 2, "same"), conv_padding(3, 1, "valid")
        ('same', 1, 0)
    """
    if isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
        return padding
    if padding == "valid":
        return 0
    if padding != "same":
        raise ValueError(format_message("padding", padding, "'same', 'valid' or a non-negative int"))
    if stride == 1:
        return "same"
    if kernel_size % 2 == 0:
        raise ValueError(format_message("kernel_size", kernel_size, "an odd size with padding='same' and stride > 1",
                                        "use an odd kernel or an int padding"))
    return kernel_size // 2


class SeparableConv2d(nn.Module):
    """Depthwise separable 2-D convolution (Keras's ``SeparableConv2D``).

    A depthwise ``k×k`` conv (``groups=in_channels``, no bias) giving ``depth_multiplier``
    maps per input channel, then a pointwise ``1×1`` conv (with bias) to ``out_channels``.
    Parameters: ``in*k*k*depth_multiplier + in*depth_multiplier*out + out`` (with bias),
    exactly as Keras counts them.

    Args:
        in_channels, out_channels: channels in and out.
        kernel_size: spatial size ``k`` of the depthwise kernel.
        stride: stride of the depthwise conv.
        padding: ``"same"`` (default), ``"valid"`` (Keras's default) or an int.
        depth_multiplier: depthwise maps per input channel.
        bias: bias on the pointwise conv.

    Example:
        >>> layer = SeparableConv2d(3, 32, 3, padding="valid")
        >>> sum(p.numel() for p in layer.parameters()), tuple(layer(torch.zeros(1, 3, 32, 32)).shape)
        (155, (1, 32, 30, 30))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: str | int = "same", depth_multiplier: int = 1, bias: bool = True) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("kernel_size", kernel_size), ("stride", stride), ("depth_multiplier", depth_multiplier)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(format_message(name, value, "a positive int"))
        middle = in_channels * depth_multiplier
        self.depthwise = nn.Conv2d(in_channels, middle, kernel_size, stride=stride,
                                   padding=conv_padding(kernel_size, stride, padding), groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(middle, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))  # (batch, out_channels, height', width')


class ConvBNAct(nn.Sequential):
    """Conv (or separable conv), BatchNorm and activation, in one of the two usual orders.

    Args:
        in_channels, out_channels, kernel_size, stride: as for ``nn.Conv2d``.
        activation: a name for ``get_activation``.
        bn: ``"before"`` the activation (conv → BN → act; the conv has no bias), ``"after"``
            it (conv → act → BN), or None (conv → act).
        separable: a ``SeparableConv2d`` instead of a ``Conv2d``.
        padding: ``"same"`` (default), ``"valid"`` or an int.
        dims: 2 for images (``Conv2d``), 1 for signals and sequences (``Conv1d``; not separable).

    Raises:
        ValueError: an unknown ``bn`` position, padding, activation or ``dims``.

    Example:
        >>> block = ConvBNAct(3, 8, 3, stride=2)
        >>> [type(m).__name__ for m in block], tuple(block(torch.zeros(2, 3, 16, 16)).shape)
        (['Conv2d', 'BatchNorm2d', 'ReLU'], (2, 8, 8, 8))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 activation: str = "relu", bn: str | None = "before", separable: bool = False,
                 padding: str | int = "same", dims: int = 2) -> None:
        if bn not in ("before", "after", None):
            raise ValueError(format_message("bn", bn, "'before', 'after' or None"))
        if dims not in (1, 2) or (dims == 1 and separable):
            raise ValueError(format_message("(dims, separable)", (dims, separable), "dims 2, or dims 1 without separable"))
        conv_bias = bn != "before"
        if separable:
            conv: nn.Module = SeparableConv2d(in_channels, out_channels, kernel_size, stride, padding, bias=conv_bias)
        else:
            conv = (nn.Conv2d if dims == 2 else nn.Conv1d)(in_channels, out_channels, kernel_size, stride=stride,
                                                          padding=conv_padding(kernel_size, stride, padding),
                                                          bias=conv_bias)
        act = get_activation(activation)
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        layers = {"before": [conv, norm(out_channels), act],
                  "after": [conv, act, norm(out_channels)], None: [conv, act]}[bn]
        super().__init__(*layers)


def batch_norm(num_features: int, dims: int = 1, momentum: float = 0.99, eps: float = 1e-3,
               renorm: bool = False, rmax: float = 3.0, dmax: float = 5.0) -> nn.Module:
    """A BatchNorm (or Batch Renormalization) layer with Keras's momentum convention.

    Args:
        num_features: features (``dims=1``: ``(batch, features)``) or channels (``dims=2``:
            ``(batch, channels, height, width)``).
        dims: 1 for dense layers, 2 for images.
        momentum: Keras's momentum ``m`` (weight of the *old* moving average), close to 1:
            0.9, 0.99, 0.999 (more 9s for larger datasets and smaller batches). PyTorch's
            momentum is ``1 - m``.
        eps: added to the variance (Keras 1e-3; PyTorch's own default is 1e-5).
        renorm: Batch Renormalization (Ioffe 2017) instead of BatchNorm, for small or
            non-i.i.d. batches.
        rmax, dmax: renorm's clipping of ``r`` to ``[1/rmax, rmax]`` and ``d`` to ``[-dmax, dmax]``.

    Returns:
        ``nn.BatchNorm1d/2d`` or ``BatchRenorm1d/2d``.

    Raises:
        ValueError: ``dims`` not 1 or 2, ``momentum`` outside [0, 1), ``eps`` not positive.

    Example:
        >>> layer = batch_norm(300)  # Keras's BatchNormalization() defaults
        >>> type(layer).__name__, round(layer.momentum, 6), layer.eps
        ('BatchNorm1d', 0.01, 0.001)
    """
    if dims not in (1, 2):
        raise ValueError(format_message("dims", dims, "1 (dense layers) or 2 (images)"))
    if not 0.0 <= momentum < 1.0:
        raise ValueError(format_message("momentum", momentum, "a Keras momentum in [0, 1), e.g. 0.99",
                                        "PyTorch's momentum=0.1 is Keras's 0.9"))
    if not eps > 0:
        raise ValueError(format_message("eps", eps, "a positive float, e.g. 1e-3"))
    if renorm:
        return (BatchRenorm1d, BatchRenorm2d)[dims - 1](num_features, momentum=1.0 - momentum, eps=eps, rmax=rmax, dmax=dmax)
    return (nn.BatchNorm1d, nn.BatchNorm2d)[dims - 1](num_features, momentum=1.0 - momentum, eps=eps)


class _BatchRenorm(nn.Module):
    """Batch Renormalization (Ioffe 2017) over all axes but the channel axis 1.

    In training, ``y = weight * ((x - mean_B) / std_B * r + d) + bias`` with
    ``r = clip(std_B / std, 1/rmax, rmax)`` and ``d = clip((mean_B - mean) / std, -dmax, dmax)``
    from the running ``mean`` and ``std``. ``r`` and ``d`` are constants to backpropagation
    (no gradient flows through them). Unclipped, the output equals the eval-mode output, so
    training and inference agree; with ``rmax=1, dmax=0`` it is plain BatchNorm. The paper
    starts at ``rmax=1, dmax=0`` and relaxes them to 3 and 5 over training: set the
    attributes from a callback to follow that schedule. Eval mode normalises with the running
    statistics, which update as in ``nn.BatchNorm`` (PyTorch's momentum; unbiased variance).

    Args:
        num_features: channels (axis 1).
        eps: added to the variances.
        momentum: PyTorch's momentum: the weight of the new batch in the running averages.
        rmax, dmax: clipping bounds (``rmax >= 1``, ``dmax >= 0``).
    """

    _input_dims = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 rmax: float = 3.0, dmax: float = 5.0) -> None:
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(format_message("num_features", num_features, "a positive int"))
        if not rmax >= 1.0 or not dmax >= 0.0:
            raise ValueError(format_message("(rmax, dmax)", (rmax, dmax), "rmax >= 1 and dmax >= 0",
                                            "rmax=1, dmax=0 is plain BatchNorm"))
        self.num_features, self.eps, self.momentum, self.rmax, self.dmax = num_features, eps, momentum, rmax, dmax
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, rmax={self.rmax}, dmax={self.dmax}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self._input_dims or x.shape[1] != self.num_features:
            raise ValueError(format_message(f"{type(self).__name__} input shape", tuple(x.shape),
                                            f"{self._input_dims} dims with {self.num_features} channels on axis 1"))
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        axes = [0, *range(2, x.dim())]
        count = x.numel() // x.shape[1]
        if count < 2:
            raise ValueError(format_message("values per channel", count, "at least 2 in training", "use a bigger batch"))
        shape = (1, -1) + (1,) * (x.dim() - 2)  # broadcast per channel
        mean, var = x.mean(axes), x.var(axes, unbiased=False)
        std = torch.sqrt(var + self.eps)
        with torch.no_grad():
            running_std = torch.sqrt(self.running_var + self.eps)
            r = (std / running_std).clamp(1.0 / self.rmax, self.rmax)
            d = ((mean - self.running_mean) / running_std).clamp(-self.dmax, self.dmax)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * count / (count - 1), self.momentum)
        x_hat = (x - mean.view(shape)) / std.view(shape) * r.view(shape) + d.view(shape)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)


class BatchRenorm1d(_BatchRenorm):
    """Batch Renormalization for ``(batch, features)`` inputs; see ``batch_norm(renorm=True)``.

    Example:
        >>> layer = BatchRenorm1d(4)
        >>> tuple(layer(torch.randn(8, 4)).shape), layer.rmax, layer.dmax
        ((8, 4), 3.0, 5.0)
    """

    _input_dims = 2


class BatchRenorm2d(_BatchRenorm):
    """Batch Renormalization for ``(batch, channels, height, width)`` inputs.

    Example:
        >>> tuple(BatchRenorm2d(3)(torch.randn(2, 3, 4, 4)).shape)
        (2, 3, 4, 4)
    """

    _input_dims = 4
