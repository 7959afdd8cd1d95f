"""``diagnose``: Géron's unstable-gradient cases, and exact dead / saturated fractions."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from topnet.train.diagnostics import Diagnosis, Finding, diagnose


def deep_mlp(kind: str, depth: int = 20, width: int = 100, inputs: int = 784) -> nn.Sequential:
    """Géron's 20-layer MLP: ``"sigmoid_normal"`` (sigmoid, every weight N(0, 1), zero bias; Glorot
    and Bengio's failing setup), ``"sigmoid_default"`` (PyTorch's default init) or ``"he_elu_bn"``."""
    torch.manual_seed(0)
    layers, fan_in = [], inputs
    for _ in range(depth):
        linear = nn.Linear(fan_in, width)
        if kind == "he_elu_bn":
            nn.init.kaiming_normal_(linear.weight)
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.BatchNorm1d(width), nn.ELU()]
        else:
            if kind == "sigmoid_normal":
                nn.init.normal_(linear.weight, 0.0, 1.0)
                nn.init.zeros_(linear.bias)
            layers += [linear, nn.Sigmoid()]
        fan_in = width
    head = nn.Linear(fan_in, 10)
    if kind == "sigmoid_normal":
        nn.init.normal_(head.weight, 0.0, 1.0)
        nn.init.zeros_(head.bias)
    return nn.Sequential(*layers, head)


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(256, 784, generator=generator), torch.randint(0, 10, (256,), generator=generator)


def test_sigmoid_with_normal_init_is_flagged_vanishing_and_saturated(batch):
    result = diagnose(deep_mlp("sigmoid_normal"), batch, device="cpu")
    assert result.vanishing and not result.exploding
    assert {"vanishing", "saturated"} <= {f.kind for f in result.findings}
    assert result.saturated_fraction >= 0.25 and result.grad_norm_ratio < 0.1
    assert "BatchNorm" in next(f.remedy for f in result.findings if f.kind == "vanishing")


def test_sigmoid_with_default_init_vanishes_geometrically(batch):
    result = diagnose(deep_mlp("sigmoid_default"), batch, device="cpu")
    assert result.vanishing and result.grad_norm_ratio < 1e-3
    assert result.saturated_fraction == 0.0  # small weights: vanishing without saturation


def test_he_init_elu_batchnorm_is_healthy(batch):
    result = diagnose(deep_mlp("he_elu_bn"), batch, device="cpu")
    assert not result.vanishing and not result.exploding and result.findings == []
    assert 0.1 < result.grad_norm_ratio < 10


def test_layers_are_in_depth_order_with_gradients_for_parameterised_ones(batch):
    result = diagnose(deep_mlp("he_elu_bn", depth=2), batch, device="cpu")
    assert [(r.name, r.kind) for r in result.layers] == [
        ("0", "Linear"), ("1", "BatchNorm1d"), ("2", "ELU"), ("3", "Linear"), ("4", "BatchNorm1d"), ("5", "ELU"), ("6", "Linear")]
    assert [r.grad_norm is not None for r in result.layers] == [True, True, False, True, True, False, True]
    assert result.layers[1].act_mean == pytest.approx(0.0, abs=1e-5) and result.layers[1].act_std == pytest.approx(1.0, abs=1e-3)


def test_dead_relu_fraction_is_exact():
    # Inputs are >= 0; unit 0 has negative weights and bias (always < 0), unit 1 is -x0 (<= 0:
    # dead counts "<= 0 for every sample"), units 2 and 3 are positive: 2 of 4 units dead.
    linear = nn.Linear(2, 4)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[-1.0, -1.0], [-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
        linear.bias.copy_(torch.tensor([-0.1, 0.0, 0.1, 0.1]))
    model = nn.Sequential(linear, nn.ReLU(), nn.Linear(4, 2))
    x = torch.rand(50, 2)
    result = diagnose(model, (x, torch.randint(0, 2, (50,))), device="cpu")
    assert result.layers[1].dead_fraction == 0.5 and result.dead_relu_fraction == 0.5
    assert "dead_relu" in {f.kind for f in result.findings}


def test_dead_relu_units_of_a_conv_layer_are_channels():
    conv = nn.Conv2d(1, 4, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([-1.0, 1.0, 1.0, 1.0]).reshape(4, 1, 1, 1))
        conv.bias.zero_()
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(4 * 9, 2))
    result = diagnose(model, (torch.rand(8, 1, 3, 3) + 0.1, torch.randint(0, 2, (8,))), device="cpu")
    assert result.layers[1].dead_fraction == 0.25


@pytest.mark.parametrize("activation, values", [(nn.Sigmoid, [-10.0, -1.0, 0.0, 10.0]), (nn.Tanh, [-5.0, 0.5, 1.0, 5.0])])
def test_saturated_fraction_is_exact(activation, values):
    # sigmoid(z) < 0.01 for z < -4.6, > 0.99 for z > 4.6; |tanh(z)| > 0.99 for |z| > 2.65: half saturated.
    identity = nn.Linear(4, 4)
    with torch.no_grad():
        identity.weight.copy_(torch.eye(4))
        identity.bias.zero_()
    model = nn.Sequential(identity, activation(), nn.Linear(4, 2))
    x = torch.tensor(values).repeat(6, 1)
    result = diagnose(model, (x, torch.randint(0, 2, (6,))), device="cpu")
    assert result.layers[1].saturated_fraction == 0.5 and result.saturated_fraction == 0.5
    assert "saturated" in {f.kind for f in result.findings}


def test_non_finite_gradients_are_exploding():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight[0, 0] = float("inf")
    result = diagnose(model, (torch.randn(8, 3), torch.randint(0, 2, (8,))), device="cpu")
    assert result.exploding and "lower the learning rate" in result.findings[0].remedy


def test_diagnose_leaves_the_model_and_the_rng_as_they_were():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 2)).eval()
    data = (torch.randn(16, 3) + 5, torch.randint(0, 2, (16,)))
    running, rng = model[1].running_mean.clone(), torch.get_rng_state()
    diagnose(model, data, device="cpu", num_batches=2, batch_size=8)
    assert not model.training and torch.equal(model[1].running_mean, running)
    assert all(p.grad is None for p in model.parameters()) and torch.equal(torch.get_rng_state(), rng)


def test_diagnosis_prints_a_table_and_findings_as_tuples(batch):
    result = diagnose(deep_mlp("sigmoid_normal", depth=3), batch, device="cpu")
    text = str(result)
    assert text.splitlines()[0].split()[:4] == ["layer", "type", "grad", "norm"]
    assert "grad_norm_ratio" in text and ("remedy:" in text or "no problems found" in text)
    for finding in result.findings:
        kind, message, remedy = finding
        assert isinstance(finding, Finding) and kind and message and remedy
    assert set(result.logs()) == {"grad_norm_ratio", "saturated_fraction"}


def test_dict_inputs_and_empty_models_are_handled():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 3), nn.Linear(1, 3)

        def forward(self, left, right):
            return self.a(left) + self.b(right)

    x = {"left": torch.randn(4, 2), "right": torch.randn(4, 1)}
    result = diagnose(TwoInputs(), (x, torch.randint(0, 3, (4,))), device="cpu")
    assert [r.name for r in result.layers] == ["a", "b"] and math.isfinite(result.grad_norm_ratio)
    assert math.isnan(Diagnosis([]).grad_norm_ratio) and Diagnosis([]).findings == []


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="batch_size"):
        diagnose(nn.Linear(2, 2), (torch.randn(2, 2), torch.tensor([0, 1])), batch_size=0)
    with pytest.raises(TypeError, match=r"\(x, y\) pair"):
        diagnose(nn.Linear(2, 2), torch.randn(2, 2))
