"""Builders: the books' parameter counts, architecture choices and argument checks."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from topnet.data.tabular import one_hot_codes
from topnet.nn.blocks import InceptionModule, ResidualBlock, SELUStack
from topnet.nn.layers import SeparableConv2d
from topnet.nn.models import create_model


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def moving_stats(model: nn.Module) -> int:
    return sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))


def test_geron_bn_mlp_matches_the_book_summary():
    model = create_model("geron_bn_mlp", input_shape=[1, 28, 28], num_classes=10)
    assert trainable(model) == 268_978
    assert moving_stats(model) == 2_368  # Keras's non-trainable params
    assert trainable(model) + moving_stats(model) == 271_346
    bns = [m for m in model if isinstance(m, nn.BatchNorm1d)]
    assert [bn.num_features for bn in bns] == [784, 300, 100]
    assert all(bn.eps == 1e-3 and bn.momentum == pytest.approx(0.01) for bn in bns)  # Keras's defaults
    assert [type(m).__name__ for m in model][2:5] == ["Linear", "ELU", "BatchNorm1d"]


def test_geron_bn_mlp_bn_before_activation():
    model = create_model("geron_bn_mlp", bn_before_activation=True)
    assert trainable(model) == 268_578  # the book's second listing: Dense without bias
    assert [type(m).__name__ for m in model][2:5] == ["Linear", "BatchNorm1d", "ELU"]


def test_geron_deep_elu():
    model = create_model("geron_deep_elu")
    hidden = [m for m in model if isinstance(m, nn.Linear)][:-1]
    assert len(hidden) == 20 and all(m.out_features == 100 for m in hidden)
    assert sum(isinstance(m, nn.ELU) for m in model) == 20
    assert hidden[0].weight.std().item() == pytest.approx(math.sqrt(2 / 3072), rel=0.05)  # He
    with_bn = create_model("geron_deep_elu", input_shape=[1, 8, 8], num_layers=3, units=8, batch_norm=True)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in with_bn) == 4


def test_geron_deep_selu():
    model = create_model("geron_deep_selu", dropout=0.1)
    assert isinstance(model[1], SELUStack) and len(model[1].layers) == 40
    assert isinstance(model[2], nn.AlphaDropout)


def test_chollet_separable_cnn_matches_the_notes_summary():
    model = create_model("chollet_separable_cnn", input_shape=[3, 32, 32], num_classes=10)
    counts = [sum(p.numel() for p in m.parameters()) for m in model if isinstance(m, SeparableConv2d)]
    assert counts[:5] == [155, 2400, 4736, 8896, 9408]  # the Keras summary in the notes
    sizes, x = [], torch.zeros(1, 3, 32, 32)
    for layer in model:
        x = layer(x)
        if isinstance(layer, (SeparableConv2d, nn.MaxPool2d)):
            sizes.append(x.shape[-1])
    assert sizes == [30, 28, 14, 12, 10, 5, 3, 1]  # "valid" padding, as Keras's default
    assert x.shape == (1, 10)
    with pytest.raises(ValueError, match=">= 32"):
        create_model("chollet_separable_cnn", input_shape=[3, 28, 28])


def test_chollet_simple_cnn():
    model = create_model("chollet_simple_cnn", input_shape=[3, 32, 32], num_classes=10)
    expected = (3 * 9 * 32 + 32) + (32 * 9 * 64 + 64) + (64 * 14 * 14 * 128 + 128) + (128 * 10 + 10)
    assert trainable(model) == expected
    assert [m.p for m in model if isinstance(m, nn.Dropout)] == [0.25, 0.5]


def test_mlp_defaults_unchanged():
    model = create_model("mlp", input_shape=[4], num_classes=3)
    assert [type(m).__name__ for m in model] == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert list(model.state_dict()) == ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"]


def test_mlp_options():
    model = create_model("mlp", input_shape=[400], num_classes=3, hidden=[300], activation="selu",
                         initializer="auto", batch_norm=True, dropout=0.2)
    assert [type(m).__name__ for m in model] == ["Flatten", "Linear", "BatchNorm1d", "SELU", "Dropout", "Linear"]
    assert model[1].bias is None
    assert model[1].weight.std().item() == pytest.approx(math.sqrt(1 / 400), rel=0.05)  # LeCun for SELU
    with pytest.raises(ValueError, match="did you mean"):
        create_model("mlp", input_shape=[4], num_classes=3, activation="rellu")
    with pytest.raises(ValueError, match="dropout"):
        create_model("mlp", input_shape=[4], num_classes=3, dropout=1.5)


def test_small_convnet_default_architecture_unchanged():
    model = create_model("small_convnet")
    assert sum(isinstance(m, nn.Conv2d) for m in model) == 4
    convs = 1 * 9 * 32 + 32 * 9 * 32 + 32 * 9 * 64 + 64 * 9 * 64  # no conv bias: BN follows
    bns = 2 * (32 + 32 + 64 + 64)
    assert trainable(model) == convs + bns + (64 * 7 * 7 * 128 + 128) + (128 * 10 + 10)


def test_separable_convnet_is_lighter_than_convnet():
    kwargs = dict(input_shape=[3, 16, 16], num_classes=10, filters=[16, 32])
    plain, separable = create_model("convnet", **kwargs), create_model("separable_convnet", **kwargs)
    assert trainable(separable) < trainable(plain) / 3
    assert sum(isinstance(m, SeparableConv2d) for m in separable.modules()) == 4


def test_convnet_checks_its_arguments():
    with pytest.raises(ValueError, match="channels, height, width"):
        create_model("convnet", input_shape=[16], num_classes=3)
    with pytest.raises(ValueError, match="fewer filters"):
        create_model("convnet", input_shape=[1, 8, 8], num_classes=3, filters=[4, 4, 4, 4])
    with pytest.raises(ValueError, match="num_classes"):
        create_model("convnet", input_shape=[1, 8, 8], num_classes=0)
    with pytest.raises(TypeError, match="unexpected arguments"):
        create_model("convnet", input_shape=[1, 8, 8], num_classes=3, depth=3)


def test_resnet_stages():
    model = create_model("resnet", input_shape=[3, 16, 16], num_classes=10, stage_channels=[4, 8, 16], blocks_per_stage=2)
    blocks = [m for m in model if isinstance(m, ResidualBlock)]
    assert len(blocks) == 6
    assert sum(not isinstance(b.shortcut, nn.Identity) for b in blocks) == 2  # one projection per new stage
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 10)


def test_inception_net_modules():
    model = create_model("inception_net", input_shape=[1, 16, 16], num_classes=5, num_modules=3, width=4, stem_channels=8)
    modules = [m for m in model if isinstance(m, InceptionModule)]
    assert [m.out_channels for m in modules] == [32, 32, 32]  # 8 * width
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 5)


def test_xception_net_paper_size():
    model = create_model("xception_net", input_shape=[3, 299, 299], num_classes=1000, initializer=None)
    # Keras's Xception (include_top=True): 22,910,480 params, of which 54,528 BN moving statistics
    assert moving_stats(model) == 54_528
    assert trainable(model) + moving_stats(model) == 22_910_480


def wide_inputs(n=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    numeric = torch.randn(n, 2, generator=generator)
    categorical = torch.stack([torch.randint(0, 3, (n,), generator=generator),
                               torch.randint(0, 4, (n,), generator=generator)], dim=1)
    return numeric, categorical


def test_wide_part_is_a_linear_model_on_one_hot_and_crossed_features():
    model = create_model("wide_and_deep", num_classes=2, num_numeric=2, categorical_sizes=[3, 4], crosses=[[0, 1]])
    wide = model.wide
    with torch.no_grad():
        wide.table.weight.normal_()
        wide.bias.normal_()
    numeric, categorical = wide_inputs()
    crossed = (categorical[:, 0] * 4 + categorical[:, 1]).unsqueeze(1)
    codes = np.concatenate([categorical.numpy(), crossed.numpy()], axis=1)
    one_hot = torch.from_numpy(one_hot_codes(codes, [3, 4, 12]))  # (n, 3 + 4 + 12)
    expected = numeric @ wide.numeric.weight.T + one_hot @ wide.table.weight + wide.bias
    assert torch.allclose(wide(numeric, categorical), expected, atol=1e-5)
    assert torch.allclose(model(numeric=numeric, categorical=categorical),
                          expected + model.deep(numeric, categorical), atol=1e-5)


def test_wide_and_deep_trains_jointly_with_fit():
    from topnet.train import fit

    torch.manual_seed(0)
    numeric, categorical = wide_inputs(32)
    y = (categorical[:, 0] == 1).long()
    model = create_model("wide_and_deep", num_classes=2, num_numeric=2, categorical_sizes=[3, 4], hidden=[8])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    history = fit(model, ({"numeric": numeric, "categorical": categorical}, y), epochs=2, batch_size=8, verbose=0)
    assert all(math.isfinite(v) for v in history.history["loss"])
    changed = {k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"wide", "deep"}


def test_wide_and_deep_categorical_only_and_numeric_only():
    _, categorical = wide_inputs()
    only_codes = create_model("wide_and_deep", num_classes=3, categorical_sizes=[3, 4])
    assert only_codes(categorical=categorical).shape == (6, 3)
    only_numbers = create_model("wide_and_deep", num_classes=1, num_numeric=2, input_shape={"numeric": [2]})
    assert only_numbers(numeric=torch.randn(6, 2)).shape == (6, 1)


def test_wide_and_deep_errors():
    with pytest.raises(ValueError, match="at least one"):
        create_model("wide_and_deep", num_classes=2)
    with pytest.raises(ValueError, match="crosses"):
        create_model("wide_and_deep", num_classes=2, categorical_sizes=[3], crosses=[[0, 1]])
    with pytest.raises(ValueError, match="input_shape"):
        create_model("wide_and_deep", num_classes=2, num_numeric=2, input_shape={"numeric": [3]})
    model = create_model("wide_and_deep", num_classes=2, num_numeric=2, categorical_sizes=[3, 4])
    numeric, categorical = wide_inputs()
    with pytest.raises(ValueError, match="categorical"):
        model(numeric=numeric)
    with pytest.raises(TypeError, match="integer category codes"):
        model(numeric=numeric, categorical=categorical.float())
