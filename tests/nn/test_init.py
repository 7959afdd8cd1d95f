"""Initialisers against their closed forms, PyTorch's fan computation and Keras's definitions."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from topnet.nn.init import INITIALIZERS, VarianceScaling, compute_fans, get_initializer, initialize, initializer_for

SHAPES = [(300, 200), (64, 32, 3), (64, 32, 3, 3), (8, 4, 3, 3, 3), (16, 1, 3, 3), (7,)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_pytorch(shape):
    expected = nn.init._calculate_fan_in_and_fan_out(torch.empty(shape)) if len(shape) >= 2 else (shape[0], shape[0])
    assert compute_fans(shape) == expected


def test_fans_match_keras_for_conv_kernels():
    # Keras kernel (kh, kw, in, out): fan_in = kh * kw * in, fan_out = kh * kw * out
    conv = nn.Conv2d(32, 64, (3, 5))
    assert compute_fans(conv.weight.shape) == (3 * 5 * 32, 3 * 5 * 64)
    # transposed conv: PyTorch weight (in, out, k, k), Keras kernel (k, k, out, in): both give
    # fan_in = k * k * out
    deconv = nn.ConvTranspose2d(32, 64, 3)
    assert compute_fans(deconv.weight.shape) == (3 * 3 * 64, 3 * 3 * 32)


# (name, scale, mode): the Keras definitions
DEFINITIONS = [("glorot", 1.0, "fan_avg"), ("he", 2.0, "fan_in"), ("lecun", 1.0, "fan_in")]


@pytest.mark.parametrize("family, scale, mode", DEFINITIONS)
@pytest.mark.parametrize("kind", ["normal", "uniform"])
def test_named_initializers_have_the_closed_form_std(family, scale, mode, kind):
    fan_in, fan_out = 400, 500
    weight = torch.empty(fan_out, fan_in)  # 200,000 draws: the std is known to about 0.2%
    get_initializer(f"{family}_{kind}")(weight, generator=torch.Generator().manual_seed(0))
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / n)
    assert weight.std().item() == pytest.approx(std, rel=0.02)
    assert abs(weight.mean().item()) < 0.02 * std
    if kind == "uniform":
        assert weight.abs().max().item() <= math.sqrt(3 * scale / n) + 1e-7
    else:  # truncated at 2 standard deviations of the widened normal
        assert weight.abs().max().item() <= 2 * std / 0.87962566103423978 + 1e-7


def test_untruncated_normal_has_tails_and_the_same_std():
    weight = torch.empty(500, 400)
    VarianceScaling(2.0, "fan_in", "untruncated_normal")(weight, generator=torch.Generator().manual_seed(1))
    std = math.sqrt(2.0 / 400)
    assert weight.std().item() == pytest.approx(std, rel=0.02)
    beyond = (weight.abs() > 2 * std).float().mean().item()
    assert beyond == pytest.approx(0.0455, abs=0.003)  # P(|z| > 2) of a normal


def test_fan_out_mode_and_normal_alias():
    weight = torch.empty(200, 1000)
    VarianceScaling(1.0, "fan_out", "normal")(weight, generator=torch.Generator().manual_seed(2))
    assert weight.std().item() == pytest.approx(math.sqrt(1 / 200), rel=0.02)
    assert weight.abs().max().item() <= 2 * math.sqrt(1 / 200) / 0.87962566103423978 + 1e-7


def test_conv_weights_use_the_receptive_field():
    conv = nn.Conv2d(64, 128, 3)  # fan_in = 576: 73,728 draws
    initialize(conv, "he_normal", seed=0)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 576), rel=0.02)


def test_initialize_visits_linear_and_conv_layers_only():
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Conv2d(4, 4, 3), nn.Conv3d(4, 4, 1), nn.ConvTranspose2d(4, 4, 3),
                          nn.BatchNorm2d(4), nn.LayerNorm(4), nn.Embedding(5, 4), nn.Linear(4, 3))
    with torch.no_grad():
        for norm in (model[4], model[5]):
            norm.weight.uniform_(2, 3)
            norm.bias.uniform_(2, 3)
    untouched = {k: v.clone() for k, v in model.state_dict().items() if k.split(".")[0] in {"4", "5", "6"}}
    initialize(model, "glorot_uniform", seed=0)
    for index in (0, 1, 2, 3, 7):
        layer = model[index]
        assert torch.count_nonzero(layer.bias) == 0
        limit = INITIALIZERS["glorot_uniform"].std(layer.weight.shape) * math.sqrt(3)
        assert layer.weight.abs().max().item() <= limit + 1e-7
    for key, value in untouched.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_seed_gives_reproducible_weights():
    first = initialize(nn.Linear(10, 10), "lecun_normal", seed=3).weight.clone()
    again = initialize(nn.Linear(10, 10), "lecun_normal", seed=3).weight
    other = initialize(nn.Linear(10, 10), "lecun_normal", seed=4).weight
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_lazy_layers_must_be_built_first():
    with pytest.raises(ValueError, match="forward pass"):
        initialize(nn.LazyLinear(3))


@pytest.mark.parametrize("activation, expected", [
    ("relu", "he"), ("leaky_relu", "he"), ("prelu", "he"), ("rrelu", "he"), ("elu", "he"), ("gelu", "he"),
    ("selu", "lecun"), ("tanh", "glorot"), ("sigmoid", "glorot"), ("softmax", "glorot"), ("linear", "glorot"),
])
def test_initializer_for_activation(activation, expected):
    assert initializer_for(activation) == f"{expected}_normal"
    assert initializer_for(activation, "uniform") == f"{expected}_uniform"


def test_every_activation_has_an_initializer():
    from topnet.nn.activations import ACTIVATIONS

    for name in ACTIVATIONS:
        assert initializer_for(name) in INITIALIZERS


def test_errors_name_the_value_and_the_choices():
    with pytest.raises(ValueError, match="did you mean 'he_normal'"):
        get_initializer("he_norml")
    with pytest.raises(TypeError, match="VarianceScaling"):
        get_initializer(3)
    with pytest.raises(ValueError, match="scale"):
        VarianceScaling(0.0)
    with pytest.raises(ValueError, match="mode"):
        VarianceScaling(1.0, "fan_sum")
    with pytest.raises(ValueError, match="distribution"):
        VarianceScaling(1.0, "fan_in", "gamma")
    with pytest.raises(ValueError, match="activation"):
        initializer_for("softplusx")
    with pytest.raises(ValueError, match="distribution"):
        initializer_for("relu", "truncated")
