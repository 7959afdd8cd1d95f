"""Weight initialisation matched to the activation: Glorot, He, LeCun and variance scaling.

Géron (ch. 11) and Keras: the variance of each layer's outputs should match the variance of
its inputs. Every named initialiser is a ``VarianceScaling(scale, mode, distribution)``, drawing
weights with variance ``scale / n`` where ``n`` is the fan-in, the fan-out or their average:

    ============== ===== ======= ================
    name           scale mode    distribution
    ============== ===== ======= ================
    glorot_*       1     fan_avg normal / uniform
    he_*           2     fan_in  normal / uniform
    lecun_*        1     fan_in  normal / uniform
    ============== ===== ======= ================

As in Keras, the ``*_normal`` initialisers draw from a normal truncated at two standard
deviations, widened by 1 / 0.87962566103423978 so that the *truncated* values have standard
deviation ``sqrt(scale / n)``; ``*_uniform`` ones draw from ``[-limit, limit]`` with
``limit = sqrt(3 * scale / n)``.

Fans follow PyTorch's weight layout (``torch.nn.init``): a ``Linear`` weight is ``(out, in)``;
a conv weight is ``(out, in / groups, *kernel)``, so ``fan_in = in / groups * prod(kernel)``
and ``fan_out = out * prod(kernel)``; this equals Keras's ``kh * kw * in`` and
``kh * kw * out`` for an ungrouped conv. A transposed conv's weight is ``(in, out / groups,
*kernel)``, so its fans are swapped, as in both PyTorch and Keras. Grouped (depthwise) convs
count the inputs of one group; Keras's ``DepthwiseConv2D`` counts all input channels instead.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from topnet.errors import format_message, unknown_name

__all__ = ["VarianceScaling", "INITIALIZERS", "get_initializer", "initialize", "initializer_for", "compute_fans"]

_TRUNCATED_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]
_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "normal", "uniform")
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def compute_fans(shape: tuple[int, ...] | torch.Size) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a PyTorch weight of ``shape`` (``(out, in, *kernel)``).

    Example:
        >>> compute_fans((64, 32, 3, 3))  # Conv2d(32, 64, 3)
        (288, 576)
    """
    if len(shape) < 2:
        fan = int(shape[0]) if len(shape) == 1 else 1
        return fan, fan
    receptive_field = math.prod(int(k) for k in shape[2:])
    return int(shape[1]) * receptive_field, int(shape[0]) * receptive_field


@dataclasses.dataclass(frozen=True)
class VarianceScaling:
    """Draw weights with variance ``scale / n`` (Keras's ``VarianceScaling``).

    Args:
        scale: positive scaling factor (2 for He, 1 for Glorot and LeCun).
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``: which ``n`` divides ``scale``.
        distribution: ``"truncated_normal"`` (cut at 2 std, std corrected to ``sqrt(scale/n)``),
            ``"untruncated_normal"``, or ``"uniform"``; ``"normal"`` is Keras 2's alias of
            ``"truncated_normal"``.

    Raises:
        ValueError: a non-positive scale or an unknown mode / distribution.

    Example:
        >>> w = torch.empty(100, 50)
        >>> _ = VarianceScaling(2.0, "fan_in", "uniform")(w, generator=torch.Generator().manual_seed(0))
        >>> bool(w.abs().max() <= math.sqrt(3 * 2.0 / 50))
        True
    """

    scale: float = 1.0
    mode: str = "fan_in"
    distribution: str = "truncated_normal"

    def __post_init__(self) -> None:
        if not isinstance(self.scale, (int, float)) or not self.scale > 0:
            raise ValueError(format_message("scale", self.scale, "a positive number", "He uses 2.0, Glorot and LeCun 1.0"))
        if self.mode not in _MODES:
            raise unknown_name("mode", self.mode, _MODES)
        if self.distribution not in _DISTRIBUTIONS:
            raise unknown_name("distribution", self.distribution, _DISTRIBUTIONS)

    def std(self, shape: tuple[int, ...] | torch.Size) -> float:
        """The standard deviation of the weights drawn for ``shape``: ``sqrt(scale / n)``."""
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return math.sqrt(self.scale / max(1.0, n))

    def __call__(self, tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill ``tensor`` in place and return it; draws on the CPU so a seed gives the same
        weights on every device."""
        std = self.std(tensor.shape)
        values = torch.empty(tensor.shape, dtype=torch.float32)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0) * std
            nn.init.uniform_(values, -limit, limit, generator=generator)
        elif self.distribution == "untruncated_normal":
            nn.init.normal_(values, 0.0, std, generator=generator)
        else:
            wide = std / _TRUNCATED_STD
            nn.init.trunc_normal_(values, 0.0, wide, -2.0 * wide, 2.0 * wide, generator=generator)
        with torch.no_grad():
            return tensor.copy_(values)


INITIALIZERS: dict[str, VarianceScaling] = {
    f"{family}_{kind}": VarianceScaling(scale, mode, "truncated_normal" if kind == "normal" else "uniform")
    for family, scale, mode in (("glorot", 1.0, "fan_avg"), ("he", 2.0, "fan_in"), ("lecun", 1.0, "fan_in"))
    for kind in ("normal", "uniform")
}
# Keras's other names for the same initialisers
INITIALIZERS["xavier_normal"], INITIALIZERS["xavier_uniform"] = INITIALIZERS["glorot_normal"], INITIALIZERS["glorot_uniform"]

_HE = ("relu", "leaky_relu", "prelu", "rrelu", "elu", "gelu", "silu", "swish")
_LECUN = ("selu",)
_GLOROT = ("tanh", "sigmoid", "softmax", "linear", "identity")


def get_initializer(initializer: str | VarianceScaling) -> VarianceScaling:
    """The ``VarianceScaling`` named ``initializer`` (see ``INITIALIZERS``), or the object itself.

    Raises:
        ValueError: an unknown name (lists the known ones).
        TypeError: neither a name nor a ``VarianceScaling``.
    """
    if isinstance(initializer, VarianceScaling):
        return initializer
    if not isinstance(initializer, str):
        raise TypeError(format_message("initializer", initializer, "a name such as 'he_normal' or a VarianceScaling"))
    if initializer not in INITIALIZERS:
        raise unknown_name("initializer", initializer, INITIALIZERS)
    return INITIALIZERS[initializer]


def initialize(model: nn.Module, initializer: str | VarianceScaling = "he_normal", *, seed: int | None = None) -> nn.Module:
    """Initialise every Linear / Conv / ConvTranspose weight of ``model``; zero their biases.

    Normalisation layers (BatchNorm, LayerNorm) and embeddings are left as they are.

    Args:
        model: any module; its submodules are visited in ``model.modules()`` order.
        initializer: a name from ``INITIALIZERS`` (``"he_normal"``, ``"glorot_uniform"``, ...)
            or a ``VarianceScaling``; ``initializer_for(activation)`` picks one.
        seed: seeds the draws (None: torch's global generator).

    Returns:
        ``model``, initialised in place.

    Raises:
        ValueError / TypeError: an unknown initializer; a lazy module not yet built.

    Example:
        >>> net = initialize(nn.Sequential(nn.Linear(400, 300), nn.ELU()), "he_normal", seed=0)
        >>> round(net[0].weight.std().item(), 2), round(math.sqrt(2 / 400), 2)
        (0.07, 0.07)
    """
    draw = get_initializer(initializer)
    generator = None if seed is None else torch.Generator().manual_seed(int(seed))
    for name, module in model.named_modules():
        if isinstance(module, _WEIGHTED):
            if isinstance(module.weight, nn.parameter.UninitializedParameter):
                raise ValueError(format_message(f"module {name!r}", type(module).__name__, "a built layer",
                                                "run one forward pass before initialize()"))
            draw(module.weight, generator=generator)
            if module.bias is not None:
                with torch.no_grad():
                    module.bias.zero_()
    return model


def initializer_for(activation: str, distribution: str = "normal") -> str:
    """The initialiser that suits ``activation``: He, LeCun (SELU) or Glorot.

    He for the ReLU family, ELU, GELU and SiLU; LeCun for SELU (self-normalising nets);
    Glorot for tanh, sigmoid, softmax and linear outputs.

    Args:
        activation: an activation name, as for ``topnet.nn.get_activation``.
        distribution: ``"normal"`` (truncated, as Keras) or ``"uniform"``.

    Raises:
        ValueError: an unknown activation or distribution.

    Example:
        >>> initializer_for("elu"), initializer_for("selu"), initializer_for("tanh", "uniform")
        ('he_normal', 'lecun_normal', 'glorot_uniform')
    """
    if distribution not in ("normal", "uniform"):
        raise unknown_name("distribution", distribution, ("normal", "uniform"))
    for family, names in (("he", _HE), ("lecun", _LECUN), ("glorot", _GLOROT)):
        if activation in names:
            return f"{family}_{distribution}"
    raise unknown_name("activation", activation, _HE + _LECUN + _GLOROT)
