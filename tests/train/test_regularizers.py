"""Penalties against their closed forms and gradients; dropout placement."""
import pytest
import torch
from torch import nn

import topnet
from topnet.nn import create_model
from topnet.train.regularizers import L1L2, add_dropout, dropout_layers, l1, l1_l2, l2, penalty


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_regularizers_equal_closed_forms():
    w = torch.randn(5, 3)
    assert l2(0.01)(w).item() == pytest.approx(0.01 * (w ** 2).sum().item(), rel=1e-6)  # Keras: no 1/2
    assert l1(0.1)(w).item() == pytest.approx(0.1 * w.abs().sum().item(), rel=1e-6)
    assert l1_l2(0.1, 0.01)(w).item() == pytest.approx(0.1 * w.abs().sum().item() + 0.01 * (w ** 2).sum().item(), rel=1e-6)
    assert l1_l2() == L1L2(0.01, 0.01) and l2() == L1L2(0.0, 0.01)  # Keras's defaults for l1/l2


def test_penalty_value_and_gradient_per_layer():
    model = net()
    rule = penalty(model, {nn.Linear: l2(0.01), "5": l1(0.1)})
    assert [name for name, _ in rule.terms] == ["0.weight", "2.weight", "5.weight"]  # weights only, not BN
    value = rule(model)
    w0, w2, w5 = model[0].weight, model[2].weight, model[5].weight
    closed = 0.01 * (w0 ** 2).sum() + 0.01 * (w2 ** 2).sum() + 0.1 * w5.abs().sum()  # the name overrides the type
    assert value.item() == pytest.approx(closed.item(), rel=1e-6)
    value.backward()
    torch.testing.assert_close(w0.grad, 0.02 * w0)
    torch.testing.assert_close(w5.grad, 0.1 * torch.sign(w5))
    assert model[0].bias.grad is None and model[3].weight.grad is None


def test_penalty_biases_optional_and_names_cover_submodules():
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), nn.Linear(2, 1))
    terms = dict(penalty(model, {"0": l2(), nn.Linear: l1()}, include_bias=True).terms)
    assert list(terms) == ["0.0.weight", "0.0.bias", "0.1.weight", "0.1.bias", "1.weight", "1.bias"]
    assert terms["0.1.bias"] == l2() and terms["1.weight"] == l1()
    with pytest.raises(ValueError, match="did you mean"):
        penalty(model, {"0.O": l2()})
    with pytest.raises(ValueError, match="trainable weights"):
        penalty(model, {nn.Conv2d: l2()})
    with pytest.raises(TypeError):
        penalty(model, {3: l2()})
    with pytest.raises(ValueError):
        l2(-1.0)


def test_fit_with_l2_penalty_shrinks_weights_and_logs_it():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 3, generator=g), torch.randint(0, 2, (64,), generator=g)
    norms = {}
    for factor in (0.0, 0.1):
        model = net()
        rule = penalty(model, {nn.Linear: l2(factor)}) if factor else None
        history = topnet.fit(model, (x, y), epochs=3, batch_size=16, optimizer="sgd", lr=0.1, penalty=rule,
                             device="cpu", verbose=0)
        norms[factor] = sum(float(m.weight.detach().norm() ** 2) for m in model if isinstance(m, nn.Linear))
    assert "penalty" in history.history and history.history["penalty"][-1] > 0
    assert norms[0.1] < 0.8 * norms[0.0]


def test_add_dropout_hidden_linear_and_alpha():
    model = create_model("mlp", input_shape=(4,), num_classes=3, hidden=(8, 8), batch_norm=True)
    names = [type(m).__name__ for m in add_dropout(model, 0.3)]
    assert names == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    assert all(type(m).__name__ != "Dropout" for m in model)  # the original is unchanged
    selu = nn.Sequential(nn.Linear(4, 8), nn.SELU(), nn.Linear(8, 8), nn.SELU(), nn.Linear(8, 2))
    new = add_dropout(selu, 0.1, after=(nn.SELU,), alpha=True)
    assert [type(m).__name__ for m in new] == ["Linear", "SELU", "AlphaDropout", "Linear", "SELU", "AlphaDropout", "Linear"]
    assert [name for name, _ in dropout_layers(new)] == ["2", "5"] and new[2].p == 0.1
    new[0].weight.data.zero_()
    assert selu[0].weight.abs().sum() > 0  # layers are copies


def test_add_dropout_never_after_the_output_and_not_twice():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2), nn.ReLU())
    assert [type(m).__name__ for m in add_dropout(model, 0.2, after=(nn.ReLU,))] == \
        ["Linear", "ReLU", "Dropout", "Linear", "ReLU"]  # kept the existing one; none after the last ReLU
    with pytest.raises(TypeError):
        add_dropout(nn.Linear(2, 2), 0.2)
    with pytest.raises(ValueError):
        add_dropout(model, 1.0)
    with pytest.raises(TypeError):
        add_dropout(model, 0.2, after="relu")
