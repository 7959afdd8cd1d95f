"""Metrics over several unequal batches against numpy over all samples at once."""
import doctest
import math

import numpy as np
import pytest
import torch

import topnet.train.metrics as metrics_module
from topnet.train.losses import CrossEntropy
from topnet.train.metrics import (METRIC_ALIASES, METRICS, Accuracy, FunctionMetric, MeanAbsoluteError,
                                  MeanSquaredError, Metric, TopKAccuracy, get_metric)

SIZES = [7, 3, 5]  # unequal batches: a mean of batch means would differ from the true value


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _epoch(metric, pred, target):
    """Feed ``pred``/``target`` to ``metric`` in batches of SIZES; return compute() as float."""
    metric.reset()
    start = 0
    for size in SIZES:
        metric.update(pred[start:start + size], target[start:start + size])
        start += size
    value = metric.compute()
    assert value.ndim == 0 and value.device == pred.device
    return float(value)


def test_docstring_examples_run():
    assert doctest.testmod(metrics_module).failed == 0


def test_categorical_accuracy_over_unequal_batches():
    logits = torch.randn(15, 4, generator=_gen(1))
    target = torch.randint(0, 4, (15,), generator=_gen(2))
    expected = np.mean(logits.numpy().argmax(axis=1) == target.numpy())
    assert _epoch(Accuracy(), logits, target) == pytest.approx(expected)
    assert _epoch(Accuracy(), logits, target[:, None]) == pytest.approx(expected)
    onehot = torch.nn.functional.one_hot(target, 4).float()
    assert _epoch(Accuracy(), logits, onehot) == pytest.approx(expected)


@pytest.mark.parametrize("shape", [(15,), (15, 1)])
def test_binary_accuracy_thresholds_logits_at_zero(shape):
    logits = torch.randn(15, generator=_gen(3))
    target = torch.randint(0, 2, (15,), generator=_gen(4))
    expected = np.mean((logits.numpy() > 0) == (target.numpy() == 1))
    assert _epoch(Accuracy(), logits.reshape(shape), target) == pytest.approx(expected)
    assert _epoch(Accuracy(), logits.reshape(shape), target.bool()) == pytest.approx(expected)


def test_binary_mode_is_element_wise_for_multi_label():
    logits = torch.randn(15, 3, generator=_gen(5))
    target = torch.randint(0, 2, (15, 3), generator=_gen(6)).float()
    expected = np.mean((logits.numpy() > 0) == (target.numpy() == 1))
    assert _epoch(Accuracy(mode="binary"), logits, target) == pytest.approx(expected)
    with pytest.raises(ValueError, match="mode"):
        Accuracy(mode="multilabel")


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_matches_numpy(k):
    logits = torch.randn(15, 5, generator=_gen(7))
    target = torch.randint(0, 5, (15,), generator=_gen(8))
    top = np.argsort(-logits.numpy(), axis=1)[:, :k]
    expected = np.mean([t in row for t, row in zip(target.numpy(), top)])
    assert _epoch(TopKAccuracy(k=k), logits, target) == pytest.approx(expected)


def test_top_k_checks():
    assert TopKAccuracy().name == "top_5_accuracy"
    with pytest.raises(ValueError, match="k"):
        TopKAccuracy(k=0)
    with pytest.raises(ValueError, match="C >= k=5"):
        TopKAccuracy(k=5).update(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))


def test_regression_metrics_over_unequal_batches():
    pred = torch.randn(15, 1, generator=_gen(9))
    target = torch.randn(15, generator=_gen(10))
    err = pred.numpy()[:, 0] - target.numpy()
    assert _epoch(MeanAbsoluteError(), pred, target) == pytest.approx(np.abs(err).mean())
    assert _epoch(MeanSquaredError(), pred, target) == pytest.approx((err ** 2).mean())


def test_function_metric_weights_batch_means_by_batch_size():
    pred = torch.randn(15, generator=_gen(11))
    target = torch.randn(15, generator=_gen(12))

    def abs_error(p, t):  # one value per sample
        return (p - t).abs()

    def mean_cube(p, t):  # the batch mean
        return ((p - t) ** 3).mean()

    err = pred.numpy() - target.numpy()
    assert _epoch(get_metric(abs_error), pred, target) == pytest.approx(np.abs(err).mean())
    metric = get_metric(mean_cube)
    assert metric.name == "mean_cube"
    assert _epoch(metric, pred, target) == pytest.approx((err ** 3).mean(), rel=1e-5)


def test_a_loss_object_works_as_a_metric():
    logits = torch.randn(15, 3, generator=_gen(13))
    target = torch.randint(0, 3, (15,), generator=_gen(14))
    metric = get_metric(CrossEntropy())
    assert metric.name == "cross_entropy"
    expected = float(torch.nn.functional.cross_entropy(logits, target))
    assert _epoch(metric, logits, target) == pytest.approx(expected, rel=1e-5)


def test_reset_and_compute_before_update():
    metric = Accuracy()
    assert math.isnan(float(metric.compute()))
    metric.update(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    metric.reset()
    metric.update(torch.tensor([[1.0, 0.0]]), torch.tensor([1]))
    assert float(metric.compute()) == 0.0


def test_get_metric_names():
    assert len(METRICS) >= 4 and set(METRIC_ALIASES.values()) <= set(METRICS)
    assert isinstance(get_metric("accuracy"), Accuracy)
    assert get_metric("acc").name == "acc"  # logs under the name asked for, as in Keras
    assert get_metric("top_k_accuracy").k == 5
    top3 = get_metric("top_3_accuracy")
    assert isinstance(top3, TopKAccuracy) and top3.k == 3 and top3.name == "top_3_accuracy"
    assert isinstance(get_metric("MAE"), MeanAbsoluteError)
    assert isinstance(get_metric("mean_squared_error"), MeanSquaredError)
    metric = Accuracy()
    assert get_metric(metric) is metric
    assert get_metric("accuracy") is not get_metric("accuracy")


def test_get_metric_errors():
    with pytest.raises(ValueError, match="did you mean 'accuracy'"):
        get_metric("acuracy")
    with pytest.raises(TypeError, match="int"):
        get_metric(3)
    with pytest.raises(ValueError, match="lambda"):
        get_metric(lambda p, t: p.mean())
    assert FunctionMetric(lambda p, t: p.mean(), name="mean_pred").name == "mean_pred"


def test_updates_do_not_synchronise(monkeypatch):
    """No .item(), bool() or float() on a tensor in update(): the CPU proxy for 'no device sync'."""
    for method in ("item", "__bool__", "__float__", "tolist"):
        monkeypatch.setattr(torch.Tensor, method, lambda *a, **k: pytest.fail("host sync"))
    logits = torch.randn(4, 6, generator=_gen(15))
    target = torch.tensor([0, 1, 2, 5])
    for metric in (Accuracy(), TopKAccuracy(), MeanSquaredError(), get_metric(CrossEntropy())):
        metric.update(logits, target if not isinstance(metric, MeanSquaredError) else logits)
        assert isinstance(metric.compute(), torch.Tensor)
    Accuracy().update(logits[:, 0], target > 2)
    assert issubclass(Accuracy, Metric)
