"""Residual, Inception, Xception and SELU blocks: shapes, shortcuts and self-normalisation."""
from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from topnet.nn.blocks import (InceptionModule, ResidualBlock, SELUStack, XceptionEntryFlow, XceptionExitFlow,
                              XceptionMiddleFlow)
from topnet.nn.layers import SeparableConv2d


def zero_last_bn(module: nn.Module) -> None:
    """Make a residual branch output zero (its final BN scale and shift to 0)."""
    with torch.no_grad():
        last = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)][-1]
        last.weight.zero_()
        last.bias.zero_()


def test_residual_identity_shortcut():
    block = ResidualBlock(8, 8).eval()
    assert isinstance(block.shortcut, nn.Identity)
    zero_last_bn(block.body)
    x = torch.randn(2, 8, 6, 6)
    assert torch.equal(block(x), torch.relu(x))  # act(0 + x)


def test_residual_projection_downsamples():
    block = ResidualBlock(4, 8, stride=2)
    conv = block.shortcut[0]
    assert (conv.kernel_size, conv.stride, conv.out_channels) == ((1, 1), (2, 2), 8)
    assert block(torch.randn(2, 4, 9, 9)).shape == (2, 8, 5, 5)
    assert isinstance(ResidualBlock(4, 4, stride=2).shortcut, nn.Sequential)  # stride alone needs a projection


def test_residual_without_batch_norm_has_biases():
    block = ResidualBlock(4, 8, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
    assert all(m.bias is not None for m in block.modules() if isinstance(m, nn.Conv2d))


def test_inception_branches_are_concatenated():
    module = InceptionModule(6, 2, 3, 4, 1, 5, 7)
    out = module(torch.randn(2, 6, 8, 8))
    assert out.shape == (2, 2 + 4 + 5 + 7, 8, 8)
    kernels = sorted({m.kernel_size[0] for m in module.modules() if isinstance(m, nn.Conv2d)})
    assert kernels == [1, 3, 5]
    assert isinstance(module.branch_pool[0], nn.MaxPool2d)


def test_inception_factorised_5x5():
    module = InceptionModule(6, 2, 3, 4, 1, 5, 7, factorize_5x5=True)
    assert [m.kernel_size[0] for m in module.branch5.modules() if isinstance(m, nn.Conv2d)] == [1, 3, 3]
    assert module(torch.randn(1, 6, 8, 8)).shape == (1, 18, 8, 8)


def test_xception_flows():
    entry = XceptionEntryFlow(3, (4, 8), (8, 16))
    x = entry(torch.randn(2, 3, 16, 16))
    assert x.shape == (2, 16, 2, 2)  # 16 / 2 (stem) / 2 / 2
    shortcuts = [m.shortcut[0] for m in entry.blocks]
    assert all(c.kernel_size == (1, 1) and c.stride == (2, 2) for c in shortcuts)
    assert sum(isinstance(m, SeparableConv2d) for m in entry.modules()) == 4
    assert not isinstance(entry.blocks[0].body[0], nn.ReLU) and isinstance(entry.blocks[1].body[0], nn.ReLU)

    middle = XceptionMiddleFlow(16, num_blocks=2).eval()
    for block in middle.blocks:
        zero_last_bn(block)
    assert torch.equal(middle(x), x)  # identity residuals

    exit_flow = XceptionExitFlow(16, (16, 24), (32, 40))
    assert exit_flow(x).shape == (2, 40)
    assert exit_flow.block.shortcut[0].stride == (2, 2)


def test_selu_stack_uses_lecun_normal_and_alpha_dropout():
    stack = SELUStack(400, 300, 2, dropout=0.1)
    first = stack.layers[0]
    assert first.weight.std().item() == pytest.approx(math.sqrt(1 / 400), rel=0.03)
    assert [type(m).__name__ for m in stack.layers] == ["Linear", "SELU", "AlphaDropout"] * 2


def test_selu_stack_self_normalises():
    torch.manual_seed(0)
    stack = SELUStack(64, 128, 20).eval()
    out = stack(torch.randn(1024, 64))  # standardised inputs through 20 layers
    assert abs(out.mean().item()) < 0.2
    assert out.std().item() == pytest.approx(1.0, abs=0.2)


def test_selu_stack_refuses_batch_norm():
    with pytest.raises(ValueError, match="BatchNorm"):
        SELUStack(4, 4, 2, batch_norm=True)
    with pytest.raises(ValueError, match="dropout"):
        SELUStack(4, 4, 2, dropout=1.0)


def test_selu_stack_warns_once_on_unstandardised_input():
    stack = SELUStack(8, 4, 1).train()
    with pytest.warns(UserWarning, match="standardise"):
        stack(torch.rand(16, 8) * 255)  # raw pixel values
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stack(torch.rand(16, 8) * 255)  # checked once, not every step


@pytest.mark.parametrize("x", [torch.randn(64, 8), torch.randn(64, 8) * 1.5 + 0.3])
def test_selu_stack_quiet_on_standardised_input_and_in_eval(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SELUStack(8, 4, 1).train()(x)
        SELUStack(8, 4, 1).eval()(x * 100)
