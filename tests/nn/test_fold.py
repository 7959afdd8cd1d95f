"""fold_batchnorm: the folded copy computes what the original computes in eval mode."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from topnet.nn.fold import fold_batchnorm, foldable_pairs


def _train_a_little(model: nn.Module, x: torch.Tensor, steps: int = 5) -> nn.Module:
    """A few SGD steps in train mode, so BatchNorm's running statistics and affine weights are
    far from their initial values (mean 0, variance 1, gamma 1, beta 0)."""
    torch.manual_seed(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()
    return model.eval()


def _assert_same_outputs(model: nn.Module, folded: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model.eval()(x), atol=1e-5, rtol=1e-5)


def _convnet() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Sequential(nn.Conv2d(8, 16, 3, bias=False), nn.BatchNorm2d(16, affine=False), nn.ReLU()),
        nn.Flatten(), nn.Linear(16 * 6 * 6, 10), nn.BatchNorm1d(10), nn.ReLU(), nn.Linear(10, 3))


def test_sequential_pairs_fold_and_outputs_match():
    torch.manual_seed(0)
    x = torch.randn(16, 3, 8, 8) * 3 + 1
    model = _train_a_little(_convnet(), x)
    assert model[1].running_mean.abs().sum() > 0 and model[1].running_var.sub(1).abs().sum() > 0
    before = copy.deepcopy(model.state_dict())
    folded = fold_batchnorm(model)
    assert foldable_pairs(model) == [("0", "1"), ("3.0", "3.1"), ("5", "6")]
    assert all(isinstance(m, nn.Identity) for m in (folded[1], folded[3][1], folded[6]))
    assert folded[3][0].bias is not None  # the bias-free conv got the BatchNorm's shift
    assert not folded.training
    _assert_same_outputs(model, folded, torch.randn(4, 3, 8, 8) * 3 + 1)
    # the original is untouched
    assert isinstance(model[1], nn.BatchNorm2d) and model[3][0].bias is None
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_conv1d_and_conv_transpose_fold():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4), nn.ConvTranspose1d(4, 5, 3), nn.BatchNorm1d(5))
    x = torch.randn(8, 2, 10)
    _train_a_little(model, x)
    folded = fold_batchnorm(model)
    assert foldable_pairs(model) == [("0", "1"), ("2", "3")]
    _assert_same_outputs(model, folded, x)


def test_batchnorm_before_layer_or_after_activation_is_left_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 5), nn.Tanh(), nn.BatchNorm1d(5))
    x = torch.randn(8, 3, 8, 8)
    _train_a_little(model, x)
    assert foldable_pairs(model) == []
    folded = fold_batchnorm(model)
    assert [type(m) for m in folded] == [type(m) for m in model]
    _assert_same_outputs(model, folded, x)


class _Residual(nn.Module):
    """conv-BN-ReLU, conv-BN, add the input: both pairs fold through the fx trace."""

    def __init__(self, channels: int = 4):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)
        self.conv2, self.bn2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)

    def forward(self, x, scale=None):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if scale is not None:  # a defaulted argument: traced with its default
            y = y * scale
        return torch.relu(y + x)


class _Branching(nn.Module):
    """The conv's output is also read by the skip path: folding would change it, so no fold."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


def test_general_graphs_through_fx():
    torch.manual_seed(0)
    model = nn.Sequential(_Residual(), _Branching(), _Residual())
    x = torch.randn(8, 4, 6, 6)
    _train_a_little(model, x)
    assert foldable_pairs(model) == [("0.conv1", "0.bn1"), ("0.conv2", "0.bn2"), ("2.conv1", "2.bn1"), ("2.conv2", "2.bn2")]
    folded = fold_batchnorm(model)
    assert isinstance(folded[0].bn2, nn.Identity) and isinstance(folded[1].bn, nn.BatchNorm2d)
    assert type(folded) is nn.Sequential and type(folded[0]) is _Residual  # the class and forward are kept
    _assert_same_outputs(model, folded, x)


def test_shared_layer_is_not_folded():
    conv, norm = nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = conv, norm

        def forward(self, x):
            return self.bn(self.conv(self.conv(x)))

    model = Twice()
    x = torch.randn(4, 3, 5, 5)
    _train_a_little(model, x)
    assert foldable_pairs(model) == []
    _assert_same_outputs(model, fold_batchnorm(model), x)


class _DataDependent(nn.Module):
    """fx cannot trace a Python ``if`` on a tensor value; the Sequential rule still folds."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())

    def forward(self, x):
        y = self.features(x)
        return y * 2 if y.sum() > 0 else y


def test_untraceable_model_falls_back_to_sequential_pairs():
    torch.manual_seed(0)
    model = _DataDependent()
    x = torch.randn(8, 3, 6, 6)
    _train_a_little(model, x)
    with pytest.raises(Exception):
        torch.fx.symbolic_trace(model)
    assert foldable_pairs(model) == [("features.0", "features.1")]
    _assert_same_outputs(model, fold_batchnorm(model), x)


def test_rejects_non_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fold_batchnorm("model")
