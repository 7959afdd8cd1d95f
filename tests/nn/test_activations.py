"""Activations by name: Keras's defaults, PyTorch's functions as the reference."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from topnet.nn.activations import ACTIVATIONS, get_activation

X = torch.linspace(-3, 3, 13)


@pytest.mark.parametrize("name, reference", [
    ("relu", F.relu),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2)),  # Keras 3's activation="leaky_relu"
    ("elu", lambda x: F.elu(x, 1.0)),
    ("selu", F.selu),
    ("gelu", lambda x: F.gelu(x, approximate="none")),
    ("silu", F.silu),
    ("swish", F.silu),
    ("tanh", torch.tanh),
    ("sigmoid", torch.sigmoid),
    ("linear", lambda x: x),
    ("identity", lambda x: x),
    ("prelu", lambda x: F.prelu(x, torch.tensor([0.25]))),
])
def test_activation_values(name, reference):
    assert torch.allclose(get_activation(name)(X), reference(X))


def test_settings_are_passed_on():
    assert torch.allclose(get_activation("leaky_relu", alpha=0.3)(X), F.leaky_relu(X, 0.3))
    assert torch.allclose(get_activation("elu", alpha=0.5)(X), F.elu(X, 0.5))
    assert torch.allclose(get_activation("gelu", approximate="tanh")(X), F.gelu(X, approximate="tanh"))
    assert get_activation("prelu", num_parameters=8).weight.shape == (8,)


def test_rrelu_is_random_in_training_and_uses_the_mean_slope_in_eval():
    rrelu = get_activation("rrelu")
    negative = -torch.ones(1000)
    slopes = -rrelu.train()(negative)
    assert slopes.min() >= 1 / 8 and slopes.max() <= 1 / 3 and slopes.std() > 0
    assert torch.allclose(-rrelu.eval()(negative), torch.full((1000,), (1 / 8 + 1 / 3) / 2))


def test_each_call_builds_a_new_module():
    first, second = get_activation("prelu"), get_activation("prelu")
    assert first is not second and first.weight is not second.weight


def test_every_name_builds_a_module():
    for name in ACTIVATIONS:
        assert isinstance(get_activation(name), nn.Module)


def test_errors():
    with pytest.raises(ValueError, match="did you mean 'relu'"):
        get_activation("rellu")
    with pytest.raises(TypeError, match=r"it takes \['alpha'\]"):
        get_activation("elu", beta=1.0)
    with pytest.raises(TypeError, match="takes none"):
        get_activation("relu", alpha=0.1)
    with pytest.raises(TypeError):
        get_activation(nn.ReLU)
    with pytest.raises(ValueError, match="approximate"):
        get_activation("gelu", approximate="fast")
