"""The books' models, layer for layer, registered by name.

Chollet 7.3.1 (CIFAR-10): ``chollet_simple_cnn`` and ``chollet_separable_cnn``. Géron ch. 11:
``geron_bn_mlp`` (Fashion-MNIST with BatchNorm), ``geron_deep_elu`` and ``geron_deep_selu``
(the CIFAR-10 exercise's 20 hidden layers of 100 units). Keras details kept: "valid" conv
padding, Glorot-uniform kernels and zero biases unless the book names another initialiser,
and BatchNorm with Keras's momentum 0.99 and epsilon 1e-3. The softmax of the books' last
layers is left to the loss: every model outputs logits.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from topnet.errors import format_message
from topnet.nn.blocks import SELUStack
from topnet.nn.init import initialize
from topnet.nn.layers import SeparableConv2d
from topnet.nn.layers import batch_norm as keras_batch_norm
from topnet.nn.models.registry import register_model
from topnet.nn.models.basic import _check_classes, _check_rate, _image_shape

__all__ = ["chollet_simple_cnn", "chollet_separable_cnn", "geron_bn_mlp", "geron_deep_elu", "geron_deep_selu"]


def _dense(in_features: int, out_features: int, initializer: str = "glorot_uniform", bias: bool = True) -> nn.Linear:
    return initialize(nn.Linear(in_features, out_features, bias=bias), initializer)


def _check_size(input_shape: Sequence[int], builder: str, smallest: int) -> tuple[int, int, int]:
    channels, height, width = _image_shape(input_shape, builder)
    if min(height, width) < smallest:
        raise ValueError(format_message("input_shape", tuple(input_shape), f"height and width >= {smallest} for "
                                        f"{builder!r} (its 'valid' convs shrink the image)", "resize the images"))
    return channels, height, width


@register_model("chollet_simple_cnn")
def chollet_simple_cnn(input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10) -> nn.Module:
    """Chollet's "regular" CIFAR-10 convnet: two 3×3 convs, max pool, dropout, dense 128, dropout.

    Conv2D(32, 3, relu) → Conv2D(64, 3, relu) → MaxPool(2) → Dropout(0.25) → Flatten →
    Dense(128, relu) → Dropout(0.5) → Dense(num_classes). Needs height and width >= 6.

    Example:
        >>> sum(p.numel() for p in chollet_simple_cnn().parameters())
        1626442
    """
    channels, height, width = _check_size(input_shape, "chollet_simple_cnn", 6)
    _check_classes(num_classes)
    flat = 64 * ((height - 4) // 2) * ((width - 4) // 2)
    model = nn.Sequential(nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Dropout(0.25), nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(128, num_classes))
    return initialize(model, "glorot_uniform")


@register_model("chollet_separable_cnn")
def chollet_separable_cnn(input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10) -> nn.Module:
    """Chollet's lightweight depthwise separable convnet (7.3.1), "valid" padding as in Keras.

    SeparableConv2D(32, 3) → SeparableConv2D(64, 3) → MaxPool(2) → SeparableConv2D(64, 3) →
    SeparableConv2D(128, 3) → MaxPool(2) → SeparableConv2D(64, 3) → SeparableConv2D(128, 3) →
    GlobalAveragePooling → Dense(32, relu) → Dense(num_classes); every conv with ReLU.
    Needs height and width >= 32 (32×32 → 30, 28, 14, 12, 10, 5, 3, 1).

    Example:
        >>> [sum(p.numel() for p in m.parameters()) for m in chollet_separable_cnn()
        ...  if isinstance(m, SeparableConv2d)]  # as the Keras summary in the notes
        [155, 2400, 4736, 8896, 9408, 8896]
    """
    channels, _, _ = _check_size(input_shape, "chollet_separable_cnn", 32)
    _check_classes(num_classes)
    layers: list[nn.Module] = []
    for cin, cout, pool in ((channels, 32, False), (32, 64, True), (64, 64, False), (64, 128, True),
                            (128, 64, False), (64, 128, False)):
        layers += [SeparableConv2d(cin, cout, 3, padding="valid"), nn.ReLU()]
        layers += [nn.MaxPool2d(2)] if pool else []
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, num_classes)]
    return initialize(nn.Sequential(*layers), "glorot_uniform")


@register_model("geron_bn_mlp")
def geron_bn_mlp(input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
                 bn_before_activation: bool = False) -> nn.Module:
    """Géron's Fashion-MNIST MLP with BatchNorm: BN, then Dense 300 and Dense 100 (ELU, He normal).

    Default (the book's first listing): Flatten → BN → Dense(300, elu) → BN → Dense(100, elu)
    → BN → Dense(num_classes): 268,978 trainable parameters and 2,368 BN moving statistics
    (Keras's non-trainable parameters; here the ``running_mean`` / ``running_var`` buffers) for
    28×28 inputs and 10 classes. ``bn_before_activation=True`` is the second listing: Dense
    without bias → BN → ELU (268,578 trainable).

    Example:
        >>> sum(p.numel() for p in geron_bn_mlp().parameters())
        268978
    """
    _check_classes(num_classes)
    width = math.prod(input_shape)
    layers: list[nn.Module] = [nn.Flatten(), keras_batch_norm(width)]
    for units in (300, 100):
        if bn_before_activation:
            layers += [_dense(width, units, "he_normal", bias=False), keras_batch_norm(units), nn.ELU()]
        else:
            layers += [_dense(width, units, "he_normal"), nn.ELU(), keras_batch_norm(units)]
        width = units
    return nn.Sequential(*layers, _dense(width, num_classes))


def _hidden_layers(count: int, units: int) -> None:
    for name, value in (("num_layers", count), ("units", units)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(format_message(name, value, "a positive int"))


@register_model("geron_deep_elu")
def geron_deep_elu(input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10, num_layers: int = 20,
                   units: int = 100, initializer: str = "he_normal", batch_norm: bool = False) -> nn.Module:
    """Géron's CIFAR-10 exercise (a): 20 hidden layers of 100 ELU units with He initialisation.

    With ``batch_norm=True``, exercise (c): BN on the inputs and after every hidden layer.
    The notes' code uses ``he_uniform``; pass ``initializer="he_uniform"`` to match it.

    Example:
        >>> net = geron_deep_elu()
        >>> len(net), net[1].in_features, net[-1].in_features
        (42, 3072, 100)
    """
    _check_classes(num_classes)
    _hidden_layers(num_layers, units)
    width = math.prod(input_shape)
    layers: list[nn.Module] = [nn.Flatten()] + ([keras_batch_norm(width)] if batch_norm else [])
    for _ in range(num_layers):
        layers += [_dense(width, units, initializer), nn.ELU()] + ([keras_batch_norm(units)] if batch_norm else [])
        width = units
    return nn.Sequential(*layers, _dense(width, num_classes))


@register_model("geron_deep_selu")
def geron_deep_selu(input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10, num_layers: int = 20,
                    units: int = 100, dropout: float = 0.0) -> nn.Module:
    """Géron's CIFAR-10 exercise (d, e): the deep net self-normalising with SELU and LeCun normal.

    Flatten → ``SELUStack`` (20 × Dense(100, selu)) → [AlphaDropout(dropout)] → Dense. Inputs
    must be standardised. Exercise (e) adds ``dropout=0.1`` before the output layer.

    Example:
        >>> net = geron_deep_selu()
        >>> len(net[1].layers), net[-1].in_features
        (40, 100)
    """
    _check_classes(num_classes)
    _hidden_layers(num_layers, units)
    _check_rate("dropout", dropout)
    layers: list[nn.Module] = [nn.Flatten(), SELUStack(math.prod(input_shape), units, num_layers)]
    layers += [nn.AlphaDropout(dropout)] if dropout else []
    return nn.Sequential(*layers, _dense(units, num_classes))
