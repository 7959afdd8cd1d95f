"""``fit(..., sample_weight=..., class_weight=...)`` against Keras's documented behaviour.

Keras 3 reduces a weighted loss with ``"sum_over_batch_size"``: the sum of the weighted
per-sample losses divided by the number of samples (not by the sum of the weights); a class
weight is the sample weight of every row of that class (1.0 for classes left out); the
validation loss is weighted only when ``validation_data`` carries weights; metrics are not.
The references here are per-row calls of ``torch.nn.functional`` losses.

This file is also the worker that ``torchrun`` starts: ``python test_sample_weights.py OUT``
trains one weighted epoch and saves the weights to ``OUT.rank<r>``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import topnet
from topnet.callbacks import Callback
from topnet.data.batches import TensorBatches, class_weight_to_sample_weights
from topnet.train.distributed import shard_weight
from topnet.train.losses import BinaryCrossEntropy, CrossEntropy, get_loss
from topnet.train.objective import Objective, per_sample_losses
from ddp_compare import assert_three_processes_equal_one

WEIGHTS = torch.tensor([0.5, 2.0, 0.0, 1.0, 3.0, 0.25])  # sum 6.75, not the 6 rows


def rows(n=6, dim=3, num_classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g), torch.randint(0, num_classes, (n,), generator=g)


class RecordLoss(Callback):
    def __init__(self):
        self.losses = []

    def on_after_backward(self, state):
        self.losses.append(state.loss.detach().clone())


def one_step(model, data, **kwargs):
    """One SGD step on the whole batch in order; the step's loss."""
    record = RecordLoss()
    topnet.fit(model, data, epochs=1, batch_size=len(data[0]), shuffle=False, optimizer="sgd", lr=0.1,
               callbacks=[record], device="cpu", verbose=0, **kwargs)
    return record.losses[0]


class TwoHeads(nn.Module):
    """Two named outputs: 4 classes and a size."""

    def __init__(self):
        super().__init__()
        self.kind, self.size = nn.Linear(3, 4), nn.Linear(3, 1)

    def forward(self, x):
        return {"kind": self.kind(x), "size": self.size(x).squeeze(1)}


# name, loss, model output width, targets, reference loss of one row (prediction row, target row)
CASES = {
    "cross_entropy": ("cross_entropy", 4, lambda y: y, lambda p, t: F.cross_entropy(p[None], t[None])),
    "binary_cross_entropy": ("binary_cross_entropy", 1, lambda y: (y % 2).float(),
                             lambda p, t: F.binary_cross_entropy_with_logits(p, t[None])),
    "mse": ("mse", 2, lambda y: torch.stack([y.float(), -y.float()], 1),
            lambda p, t: (p - t).square().mean()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_step_loss_and_update_are_the_weighted_sum_over_the_batch_size(case):
    loss, width, target, row_loss = CASES[case]
    torch.manual_seed(0)
    x, y = rows()
    y = target(y)
    model = nn.Linear(3, width)
    start = nn.Linear(3, width)
    start.load_state_dict(model.state_dict())
    step_loss = one_step(model, (x, y), loss=loss, sample_weight=WEIGHTS.numpy())
    # by hand: sum_i w_i * l_i / N, N = 6 rows
    out = start(x)
    expected = sum(w * row_loss(out[i], y[i]) for i, w in enumerate(WEIGHTS)) / len(x)
    torch.testing.assert_close(step_loss, expected.detach(), rtol=1e-6, atol=1e-7)
    expected.backward()
    for after, before in zip(model.parameters(), start.parameters()):  # SGD: p - lr * grad
        torch.testing.assert_close(after.detach(), (before - 0.1 * before.grad).detach(), rtol=1e-6, atol=1e-7)


def test_class_weight_equals_the_sample_weight_of_each_rows_class():
    x, y = rows(n=40, seed=1)
    class_weight = {0: 0.2, 1: 3.0, 3: 0.5}  # class 2 left out: weight 1.0
    by_class, by_row = nn.Linear(3, 4), nn.Linear(3, 4)
    by_row.load_state_dict(by_class.state_dict())
    settings = dict(epochs=3, batch_size=8, optimizer="adam", lr=0.05, device="cpu", verbose=0)
    h1 = topnet.fit(by_class, (x, y), class_weight=class_weight, **settings)
    weights = np.array([class_weight.get(int(label), 1.0) for label in y])
    h2 = topnet.fit(by_row, (x, y), sample_weight=weights, **settings)
    assert h1.history == h2.history
    for a, b in zip(by_class.parameters(), by_row.parameters()):
        assert torch.equal(a, b)


def test_class_weight_reads_one_hot_rows_by_their_argmax_as_keras_does():
    _, y = rows(n=10, seed=2)
    one_hot = F.one_hot(y, 4).float()
    class_weight = {0: 0.2, 1: 3.0}
    assert torch.equal(class_weight_to_sample_weights(one_hot, class_weight),
                       class_weight_to_sample_weights(y[:, None].float(), class_weight))


def test_class_weight_may_name_a_class_of_the_model_that_the_data_lacks():
    # a random subset of the training rows (a multi-fidelity search's first epochs) can miss a rare class
    x, y = rows(n=12, num_classes=2, seed=11)  # classes 0 and 1; the model has 4
    topnet.fit(nn.Linear(3, 4), (x, y), class_weight={3: 5.0}, device="cpu", verbose=0)
    binary = (x, (y == 1).float())  # one logit: classes 0 and 1
    topnet.fit(nn.Linear(3, 1), binary, loss="binary_cross_entropy", class_weight={1: 4.0}, device="cpu", verbose=0)
    with pytest.raises(ValueError, match="class_weight key: got 2; expected a class index of the model, in \\[0, 1\\]"):
        topnet.fit(nn.Linear(3, 1), binary, loss="binary_cross_entropy", class_weight={2: 4.0}, device="cpu", verbose=0)


def test_class_weight_and_sample_weight_together_multiply():
    x, y = rows(n=12, seed=3)
    sample_weight = torch.linspace(0.5, 2.0, 12)
    class_weight = {0: 2.0, 1: 0.5, 2: 4.0, 3: 1.5}
    both, product = nn.Linear(3, 4), nn.Linear(3, 4)
    product.load_state_dict(both.state_dict())
    a = one_step(both, (x, y), sample_weight=sample_weight, class_weight=class_weight)
    b = one_step(product, (x, y), sample_weight=sample_weight * torch.tensor([class_weight[int(c)] for c in y]))
    assert torch.equal(a, b) and all(torch.equal(p, q) for p, q in zip(both.parameters(), product.parameters()))


@pytest.mark.parametrize("weights", [{"sample_weight": np.ones(32)}, {"class_weight": {0: 1.0, 1: 1, 2: 1.0}},
                                     {"data_weights": torch.ones(32, 1)}])
def test_weights_of_one_train_exactly_as_no_weights(weights):
    x, y = rows(n=32, num_classes=3, seed=4)
    plain, weighted = nn.Linear(3, 3), nn.Linear(3, 3)
    weighted.load_state_dict(plain.state_dict())
    settings = dict(epochs=2, batch_size=8, lr=0.05, metrics=["accuracy"], device="cpu", verbose=0,
                    validation_data=(x[:8], y[:8]))
    h1 = topnet.fit(plain, (x, y), **settings)
    data = (x, y, weights.pop("data_weights")) if "data_weights" in weights else (x, y)
    h2 = topnet.fit(weighted, data, **weights, **settings)
    assert h1.history == h2.history
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), weighted.parameters()))


def test_a_zero_weight_removes_the_rows_gradient():
    x, y = rows(seed=5)
    models = [nn.Linear(3, 4) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    changed_x, changed_y = x.clone(), y.clone()
    changed_x[2], changed_y[2] = 50 * torch.randn(3), (y[2] + 1) % 4  # row 2 has weight 0
    one_step(models[0], (x, y), sample_weight=WEIGHTS)
    one_step(models[1], (changed_x, changed_y), sample_weight=WEIGHTS)
    assert all(torch.equal(a, b) for a, b in zip(*(m.parameters() for m in models)))
    # and the row's own gradient is zero
    model = nn.Linear(3, 4)
    objective = Objective([""])
    objective(model(x[2:3]), y[2:3], sample_weight=torch.zeros(1)).backward()
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in model.parameters())


def test_validation_loss_is_weighted_only_when_validation_data_carries_weights():
    x, y = rows(n=24, seed=6)
    vx, vy = rows(n=10, seed=7)
    vw = torch.linspace(0.0, 3.0, 10)
    model = nn.Linear(3, 4)
    settings = dict(epochs=1, batch_size=8, device="cpu", verbose=0, metrics=["accuracy"], class_weight={1: 5.0})
    plain = topnet.fit(model, (x, y), validation_data=(vx, vy), lr=0.0, **settings).history
    weighted = topnet.fit(model, (x, y), validation_data=(vx, vy, vw), lr=0.0, **settings).history
    with torch.no_grad():
        out = model(vx)
    # class_weight weights training only
    assert plain["val_loss"][0] == pytest.approx(F.cross_entropy(out, vy).item(), rel=1e-6)
    hand = sum(w * F.cross_entropy(out[i:i + 1], vy[i:i + 1]) for i, w in enumerate(vw)) / len(vx)
    assert weighted["val_loss"][0] == pytest.approx(hand.item(), rel=1e-6)
    assert weighted["val_accuracy"] == plain["val_accuracy"]  # metrics are not weighted


def test_evaluate_takes_sample_weight_or_a_third_element():
    x, y = rows(n=10, seed=8)
    w = torch.linspace(0.1, 2.0, 10)
    model = nn.Linear(3, 4)
    with torch.no_grad():
        out = model(x)
    hand = sum(wi * F.cross_entropy(out[i:i + 1], y[i:i + 1]) for i, wi in enumerate(w)) / len(x)
    by_argument = topnet.evaluate(model, (x, y), sample_weight=w, batch_size=4, device="cpu", metrics=["accuracy"])
    by_tuple = topnet.evaluate(model, (x, y, w), batch_size=4, device="cpu", metrics=["accuracy"])
    assert by_argument == by_tuple
    assert by_argument["loss"] == pytest.approx(hand.item(), rel=1e-6)
    assert by_argument["accuracy"] == topnet.evaluate(model, (x, y), device="cpu", metrics=["accuracy"])["accuracy"]


def test_one_sample_weight_weights_every_output_of_a_multi_output_model():
    x, y = rows(n=8, seed=9)
    size = x.sum(1)
    w = torch.linspace(0.0, 2.0, 8)
    model = TwoHeads()
    logs = topnet.evaluate(model, (x, {"kind": y, "size": size}, w), loss={"kind": "cross_entropy", "size": "mse"},
                           loss_weights={"kind": 1.0, "size": 0.5}, device="cpu")
    with torch.no_grad():
        out = model(x)
    kind = sum(wi * F.cross_entropy(out["kind"][i:i + 1], y[i:i + 1]) for i, wi in enumerate(w)) / 8
    size_loss = (w * (out["size"] - size).square()).sum() / 8
    assert logs["kind_loss"] == pytest.approx(kind.item(), rel=1e-6)
    assert logs["size_loss"] == pytest.approx(size_loss.item(), rel=1e-6)
    assert logs["loss"] == pytest.approx(kind.item() + 0.5 * size_loss.item(), rel=1e-6)


@pytest.mark.parametrize("loss, prediction, target", [
    (get_loss("cross_entropy"), torch.randn(5, 4), torch.randint(0, 4, (5,))),
    (get_loss("cross_entropy"), torch.randn(5, 4), torch.randint(0, 4, (5, 1))),
    (CrossEntropy(label_smoothing=0.1), torch.randn(5, 4), torch.softmax(torch.randn(5, 4), 1)),
    (get_loss("cross_entropy"), torch.randn(5, 4, 2, 3), torch.randint(0, 4, (5, 2, 3))),  # per pixel
    (BinaryCrossEntropy(pos_weight=torch.tensor([2.0, 0.5])), torch.randn(5, 2), torch.randint(0, 2, (5, 2))),
    (get_loss("huber"), torch.randn(5, 1), torch.randn(5)),
    (get_loss("mae"), torch.randn(5, 3), torch.randn(5, 3)),
    (nn.CrossEntropyLoss(), torch.randn(5, 4), torch.randint(0, 4, (5,))),
])
def test_per_sample_losses_are_the_loss_of_each_row_alone(loss, prediction, target):
    expected = torch.stack([loss(prediction[i:i + 1], target[i:i + 1]) for i in range(len(prediction))])
    torch.testing.assert_close(per_sample_losses(loss, prediction, target), expected)


def test_a_loss_that_cannot_run_per_row_is_named():
    def odd_loss(prediction, target):
        return F.cross_entropy(prediction, target) * (prediction.sum().item() > 0)

    with pytest.raises(TypeError, match="loss: got .*odd_loss.*sample weights need each row's loss"):
        topnet.fit(nn.Linear(3, 4), rows(), loss=odd_loss, sample_weight=WEIGHTS, device="cpu", verbose=0)


def multi_output_data():
    x, y = rows(n=6)
    return x, {"kind": y, "size": x.sum(1)}


@pytest.mark.parametrize("kwargs, data, error, parts", [
    ({"sample_weight": np.ones(5)}, rows(), ValueError,
     ["sample_weight: got '5 weights'", "one per training row (6)", "shape (6,)"]),
    ({"sample_weight": np.array([1.0, 1.0, -2.0, 1.0, 1.0, 1.0])}, rows(), ValueError,
     ["got '-2 at row 2'", "finite weights >= 0", "0 leaves the row out"]),
    ({"sample_weight": np.array([1.0, np.nan, 1.0, 1.0, 1.0, 1.0])}, rows(), ValueError, ["got 'nan at row 1'"]),
    ({"sample_weight": np.zeros(6)}, rows(), ValueError, ["all 6 weights 0", "at least one positive weight"]),
    ({"sample_weight": np.ones((6, 2))}, rows(), ValueError, ["an array of shape (6, 2)", "shape (6,)"]),
    ({"sample_weight": {"a": np.ones(6)}}, rows(), TypeError, ["a dict with keys ['a']", "per-output weights"]),
    ({"class_weight": {0: 1.0, 7: 2.0}}, rows(), ValueError,
     ["class_weight key: got 7", "a class index of the model, in [0, 3]", "drop the key"]),
    ({"class_weight": {"1": 2.0}}, rows(), ValueError, ["class_weight key: got '1'"]),
    ({"class_weight": {1: -1.0}}, rows(), ValueError, ["class_weight[1]: got -1.0", "a finite number >= 0"]),
    ({"class_weight": [1.0, 2.0]}, rows(), TypeError, ["class_weight: got 'list'", "a dict {class index: weight}"]),
    ({"class_weight": {0: 2.0}, "loss": "mse"}, (rows()[0], torch.linspace(-1, 1, 6) + 0.25), ValueError,
     ["targets with the value -0.75 at row 0", "class labels", "weight regression rows with sample_weight"]),
    ({"class_weight": {0: 2.0}, "loss": {"kind": "cross_entropy", "size": "mse"}}, multi_output_data(), ValueError,
     ["class_weight: got \"targets for ['kind', 'size']\"", "a single output", "sample_weight"]),
    ({"sample_weight": np.ones(6)}, (*rows(), np.ones(6)), ValueError,
     ["weights twice", "(x, y, sample_weight) alone"]),
    ({"validation_data": (*rows(n=4), np.ones(3))}, rows(), ValueError,
     ["validation sample_weight: got '3 weights'", "one per validation row (4)"]),
])
def test_bad_weights_are_refused_before_training_with_the_value_and_a_fix(kwargs, data, error, parts):
    model = TwoHeads() if isinstance(data[1], dict) else nn.Linear(3, 1 if data[1].is_floating_point() else 4)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(error) as info:
        topnet.fit(model, data, device="cpu", verbose=0, **kwargs)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))


def test_batches_carry_each_rows_weight_with_it():
    x = torch.arange(20.0)
    for shard in range(3):
        batches = TensorBatches(x, x.long(), 8, seed=0, num_shards=3, shard=shard, sample_weight=x * 10)
        for xb, yb, wb in batches.epoch(1):
            assert torch.equal(wb, xb * 10) and torch.equal(yb, xb.long())
    assert all(len(batch) == 2 for batch in TensorBatches(x, x.long(), 8).epoch(0))  # no weights: (x, y)


def test_data_parallel_shards_of_a_weighted_batch_average_to_the_whole_batch():
    # What DistributedDataParallel computes: the equal-weight average over processes of each
    # process's loss times shard_weight. Each process's weighted loss is sum w_i l_i over its
    # rows divided by its row count, so the average is the whole batch's sum w_i l_i / N.
    torch.manual_seed(0)
    model = nn.Linear(3, 4)
    x, y = rows(n=16, seed=10)
    w = torch.rand(16, generator=torch.Generator().manual_seed(1)) * 3
    objective = Objective([""])
    whole = objective(model(x), y, sample_weight=w)
    whole_grad = torch.autograd.grad(whole, list(model.parameters()))
    for world_size in (2, 3, 5):
        shards = [objective(model(x[r::world_size]), y[r::world_size], sample_weight=w[r::world_size])
                  * shard_weight(16, r, world_size) for r in range(world_size)]
        average = sum(shards) / world_size
        torch.testing.assert_close(average, whole)
        for g, h in zip(torch.autograd.grad(average, list(model.parameters())), whole_grad):
            torch.testing.assert_close(g, h)


def _train(out: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(69, 5, generator=g)
    y = (x[:, 0] - x[:, 1] > 0).long() + (x[:, 2] > 0.3).long()
    weights = torch.rand(69, generator=g) * 2
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    history = topnet.fit(model, (x, y), sample_weight=weights, class_weight={0: 3.0, 2: 0.5}, epochs=1, batch_size=16,
                         optimizer="sgd", lr=0.5, seed=7, device="cpu", verbose=0)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    torch.save({"weights": model.state_dict(), "history": history.history}, f"{out}.rank{rank}")


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_three_processes_train_a_weighted_fit_as_one_process(tmp_path):
    # 69 rows in batches of 16 on 3 processes: shards of 6/5/5 rows, then 2/2/1
    assert_three_processes_equal_one(str(Path(__file__)), tmp_path)


if __name__ == "__main__":
    _train(sys.argv[1])
