"""Separable convs (Keras's parameter counts), ConvBNAct, Keras-convention BatchNorm, Batch Renorm."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from topnet.nn.layers import BatchRenorm1d, BatchRenorm2d, ConvBNAct, SeparableConv2d, batch_norm, conv_padding


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("cin, cout, k, dm, bias", [(3, 32, 3, 1, True), (32, 64, 3, 1, True), (8, 16, 5, 2, True),
                                                    (8, 16, 3, 3, False)])
def test_separable_parameter_count_is_keras(cin, cout, k, dm, bias):
    layer = SeparableConv2d(cin, cout, k, depth_multiplier=dm, bias=bias)
    assert count(layer) == cin * k * k * dm + cin * dm * cout + (cout if bias else 0)


def test_separable_counts_of_the_notes_summary():
    # Chollet 7.3.1's Keras summary: 155, 2400, 4736, 8896, 9408
    pairs = [(3, 32), (32, 64), (64, 64), (64, 128), (128, 64)]
    assert [count(SeparableConv2d(a, b, 3)) for a, b in pairs] == [155, 2400, 4736, 8896, 9408]


def test_separable_is_depthwise_then_pointwise():
    layer = SeparableConv2d(3, 5, 3, padding="valid", depth_multiplier=2)
    x = torch.randn(2, 3, 8, 8)
    depthwise = F.conv2d(x, layer.depthwise.weight, groups=3)  # each input channel on its own
    expected = F.conv2d(depthwise, layer.pointwise.weight, layer.pointwise.bias)
    assert torch.allclose(layer(x), expected, atol=1e-6)
    assert layer.depthwise.bias is None and layer.depthwise.groups == 3


@pytest.mark.parametrize("size, stride, padding, expected", [(16, 1, "same", 16), (16, 2, "same", 8), (15, 2, "same", 8),
                                                             (16, 1, "valid", 14), (16, 1, 2, 18)])
def test_separable_padding(size, stride, padding, expected):
    layer = SeparableConv2d(2, 4, 3, stride=stride, padding=padding)
    assert layer(torch.zeros(1, 2, size, size)).shape[-1] == expected


def test_padding_errors():
    with pytest.raises(ValueError, match="odd"):
        conv_padding(4, 2, "same")
    with pytest.raises(ValueError, match="padding"):
        conv_padding(3, 1, "full")
    with pytest.raises(ValueError, match="in_channels"):
        SeparableConv2d(0, 4, 3)


@pytest.mark.parametrize("bn, types, conv_bias", [
    ("before", ["Conv2d", "BatchNorm2d", "ELU"], False),
    ("after", ["Conv2d", "ELU", "BatchNorm2d"], True),
    (None, ["Conv2d", "ELU"], True),
])
def test_conv_bn_act_orders(bn, types, conv_bias):
    block = ConvBNAct(3, 8, 3, activation="elu", bn=bn)
    assert [type(m).__name__ for m in block] == types
    assert (block[0].bias is not None) == conv_bias
    assert block(torch.zeros(2, 3, 8, 8)).shape == (2, 8, 8, 8)


def test_conv_bn_act_separable_and_errors():
    block = ConvBNAct(3, 8, 3, stride=2, separable=True)
    assert isinstance(block[0], SeparableConv2d) and block[0].pointwise.bias is None
    assert block(torch.zeros(1, 3, 8, 8)).shape == (1, 8, 4, 4)
    with pytest.raises(ValueError, match="bn"):
        ConvBNAct(3, 8, 3, bn="middle")


def test_batch_norm_converts_keras_momentum():
    layer = batch_norm(4, momentum=0.9)
    x = torch.randn(16, 4) + 3.0
    layer.train()(x)
    # Keras: moving = m * moving + (1 - m) * batch, starting from 0 (mean) and 1 (variance)
    assert torch.allclose(layer.running_mean, 0.9 * 0.0 + 0.1 * x.mean(0), atol=1e-6)
    assert torch.allclose(layer.running_var, 0.9 * 1.0 + 0.1 * x.var(0), atol=1e-6)
    assert layer.eps == 1e-3
    assert isinstance(batch_norm(4, dims=2), nn.BatchNorm2d)
    assert isinstance(batch_norm(4, dims=2, renorm=True), BatchRenorm2d)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="dims"):
        batch_norm(4, dims=3)
    with pytest.raises(ValueError, match="Keras momentum"):
        batch_norm(4, momentum=1.0)
    with pytest.raises(ValueError, match="eps"):
        batch_norm(4, eps=0.0)


def paired(renorm_cls, bn_cls, channels=3, **kwargs):
    torch.manual_seed(0)
    renorm, bn = renorm_cls(channels, **kwargs), bn_cls(channels)
    with torch.no_grad():
        for layer in (renorm, bn):
            layer.weight.copy_(torch.linspace(0.5, 2.0, channels))
            layer.bias.copy_(torch.linspace(-1.0, 1.0, channels))
            layer.running_mean.copy_(torch.linspace(0.2, 0.4, channels))
            layer.running_var.copy_(torch.linspace(0.5, 3.0, channels))
    return renorm, bn


@pytest.mark.parametrize("renorm_cls, bn_cls, shape", [(BatchRenorm1d, nn.BatchNorm1d, (8, 3)),
                                                       (BatchRenorm2d, nn.BatchNorm2d, (4, 3, 5, 5))])
def test_renorm_without_room_to_correct_is_batch_norm(renorm_cls, bn_cls, shape):
    renorm, bn = paired(renorm_cls, bn_cls, rmax=1.0, dmax=0.0)
    x = torch.randn(shape) * 2 + 1
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out1, out2 = renorm.train()(x1), bn.train()(x2)
    assert torch.allclose(out1, out2, atol=1e-5)
    grad = torch.randn_like(out1)
    out1.backward(grad)
    out2.backward(grad)
    assert torch.allclose(x1.grad, x2.grad, atol=1e-5)
    assert torch.allclose(renorm.weight.grad, bn.weight.grad, atol=1e-4)
    assert torch.allclose(renorm.running_mean, bn.running_mean, atol=1e-6)
    assert torch.allclose(renorm.running_var, bn.running_var, atol=1e-6)
    renorm.eval(), bn.eval()
    assert torch.allclose(renorm(x), bn(x), atol=1e-5)


def test_renorm_unclipped_matches_inference_and_blocks_gradient_through_r_and_d():
    renorm, bn = paired(BatchRenorm1d, nn.BatchNorm1d, rmax=100.0, dmax=100.0)
    x = (torch.randn(16, 3) * 2 + 1).requires_grad_()
    with torch.no_grad():
        inference = bn.eval()(x)  # uses the running statistics, before renorm updates them
        mean, var = x.mean(0), x.var(0, unbiased=False)
        r = torch.sqrt(var + renorm.eps) / torch.sqrt(renorm.running_var + renorm.eps)
    out = renorm.train()(x)
    assert torch.allclose(out, inference, atol=1e-5)  # training output = inference output
    # r and d are constants to backprop: the gradient is plain BN's with weight * r
    grad = torch.randn_like(out)
    (x_grad,) = torch.autograd.grad(out, x, grad)
    plain = nn.BatchNorm1d(3).train()
    with torch.no_grad():
        plain.weight.copy_(bn.weight * r)
    x2 = x.detach().clone().requires_grad_()
    (expected,) = torch.autograd.grad(plain(x2), x2, grad)
    assert torch.allclose(x_grad, expected, atol=1e-5)
    assert not torch.allclose(x_grad, torch.autograd.grad(bn.eval()(x2), x2, grad)[0], atol=1e-3)


def test_renorm_clips_r_and_d():
    layer = BatchRenorm1d(2, rmax=2.0, dmax=0.5)
    with torch.no_grad():
        layer.running_var.fill_(1e4)  # r would be ~0.01: clipped to 1/2
        layer.running_mean.fill_(-500.0)  # d would be ~5: clipped to 0.5
    x = torch.randn(32, 2)
    x_hat = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + layer.eps)
    assert torch.allclose(layer.train()(x), x_hat * 0.5 + 0.5, atol=1e-5)


def test_renorm_errors():
    with pytest.raises(ValueError, match="rmax"):
        BatchRenorm1d(3, rmax=0.5)
    with pytest.raises(ValueError, match="input shape"):
        BatchRenorm2d(3)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="bigger batch"):
        BatchRenorm1d(3).train()(torch.zeros(1, 3))
