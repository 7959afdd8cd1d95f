"""Transfer learning through the public API on real Fashion-MNIST (Géron 11.2, small and quick):
model A on the 8 classes other than sandal (5) and shirt (6); model B for sandal-vs-shirt on
200 images, built on A's layers (frozen, then fine-tuned at a lower rate)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import topnet
from topnet.data import load
from topnet.nn import create_model, freeze, param_groups, replace_head, unfreeze


@pytest.mark.e2e
@pytest.mark.slow
def test_model_a_on_eight_classes_transfers_to_sandal_vs_shirt():
    splits = load("fashion-mnist")
    x, y = splits.train.x.astype(np.float32) / 255.0, splits.train.y
    a_rows = np.flatnonzero((y != 5) & (y != 6))[:12000]
    a_labels = np.array([0, 1, 2, 3, 4, -1, -1, 5, 6, 7])[y[a_rows]]  # 0..4 stay, 7..9 -> 5..7
    assert set(a_labels.tolist()) == set(range(8))
    torch.manual_seed(0)
    model_a = create_model("mlp", input_shape=[1, 28, 28], num_classes=8, hidden=[100, 100], activation="selu")
    topnet.fit(model_a, (x[a_rows], a_labels), epochs=2, batch_size=64, verbose=0)

    rng = np.random.default_rng(0)
    b_pool = np.flatnonzero((y == 5) | (y == 6))
    b_rows = rng.choice(b_pool, 200, replace=False)
    test = np.flatnonzero((splits.test.y == 5) | (splits.test.y == 6))
    xb, yb = x[b_rows], (y[b_rows] == 6).astype(np.int64)
    xt, yt = splits.test.x[test].astype(np.float32) / 255.0, (splits.test.y[test] == 6).astype(np.int64)

    model_b = replace_head(model_a, num_classes=2)
    freeze(model_b)
    unfreeze(model_b.get_submodule(_head_name(model_b)))
    before = {k: v.clone() for k, v in model_a.state_dict().items()}
    topnet.fit(model_b, (xb, yb), epochs=4, batch_size=16, verbose=0)
    unfreeze(model_b)
    groups = param_groups(model_b, {}, default_lr=1e-4)
    topnet.fit(model_b, (xb, yb), epochs=4, batch_size=16, optimizer=torch.optim.Adam(groups), verbose=0)
    accuracy = topnet.evaluate(model_b, (xt, yt), metrics=["accuracy"])["accuracy"]
    assert accuracy > 0.9, accuracy  # sandal vs shirt from 200 images
    assert all(torch.equal(v, model_a.state_dict()[k]) for k, v in before.items())  # A untouched


def _head_name(model: nn.Module) -> str:
    return [name for name, module in model.named_modules() if isinstance(module, nn.Linear)][-1]
