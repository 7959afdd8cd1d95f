"""Losses against torch.nn.functional and closed forms; shape handling; lookup by name."""
import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import topnet.train.losses as losses_module
from topnet.train.losses import (LOSS_ALIASES, LOSSES, BinaryCrossEntropy, CrossEntropy, Huber,
                                 MeanAbsoluteError, MeanSquaredError, align_prediction, get_loss)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_docstring_examples_run():
    assert doctest.testmod(losses_module).failed == 0


def test_cross_entropy_matches_torch_for_class_indices():
    logits = torch.randn(6, 4, generator=_gen())
    target = torch.randint(0, 4, (6,), generator=_gen(1))
    torch.testing.assert_close(CrossEntropy()(logits, target), F.cross_entropy(logits, target))


@pytest.mark.parametrize("num_classes", [2, 3, 10])
def test_cross_entropy_of_uniform_logits_is_log_num_classes(num_classes):
    loss = CrossEntropy()(torch.zeros(5, num_classes), torch.arange(5) % num_classes)
    assert float(loss) == pytest.approx(math.log(num_classes))


def test_label_smoothing_follows_the_closed_form():
    # smoothed target (1 - s) * onehot + s / C  =>  loss = (1 - s) * CE + s * mean_k(-log p_k)
    logits = torch.randn(4, 5, generator=_gen(2), dtype=torch.float64)
    target = torch.tensor([0, 1, 4, 2])
    s = 0.2
    log_p = logits.numpy() - np.log(np.exp(logits.numpy()).sum(axis=1, keepdims=True))
    onehot = np.eye(5)[target.numpy()]
    expected = -(((1 - s) * onehot + s / 5) * log_p).sum(axis=1).mean()
    assert float(CrossEntropy(label_smoothing=s)(logits, target)) == pytest.approx(expected)


def test_cross_entropy_takes_probability_targets():
    logits = torch.randn(3, 4, generator=_gen(3), dtype=torch.float64)
    probs = torch.softmax(torch.randn(3, 4, generator=_gen(4), dtype=torch.float64), dim=1)
    expected = -(probs * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    torch.testing.assert_close(CrossEntropy()(logits, probs), expected)


def test_cross_entropy_accepts_n_by_1_and_float_index_targets():
    logits = torch.randn(5, 3, generator=_gen(5))
    target = torch.tensor([0, 2, 1, 1, 0])
    expected = F.cross_entropy(logits, target)
    torch.testing.assert_close(CrossEntropy()(logits, target[:, None]), expected)
    torch.testing.assert_close(CrossEntropy()(logits, target.float()), expected)
    torch.testing.assert_close(CrossEntropy()(logits, target.to(torch.int32)), expected)


def test_cross_entropy_per_pixel():
    logits = torch.randn(2, 3, 4, 4, generator=_gen(6))
    target = torch.randint(0, 3, (2, 4, 4), generator=_gen(7))
    torch.testing.assert_close(CrossEntropy()(logits, target), F.cross_entropy(logits, target))
    torch.testing.assert_close(CrossEntropy()(logits, target[:, None]), F.cross_entropy(logits, target))


def test_cross_entropy_refuses_one_logit_and_mismatched_targets():
    with pytest.raises(ValueError, match="binary_cross_entropy"):
        CrossEntropy()(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="target shape"):
        CrossEntropy()(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2])
def test_label_smoothing_is_validated(bad):
    with pytest.raises(ValueError, match=r"label_smoothing.*\[0, 1\)"):
        CrossEntropy(label_smoothing=bad)
    with pytest.raises(ValueError, match="label_smoothing"):
        BinaryCrossEntropy(label_smoothing=bad)


def test_binary_cross_entropy_matches_torch_and_reshapes():
    logits = torch.randn(6, 1, generator=_gen(8))
    target = torch.tensor([0, 1, 1, 0, 1, 0])
    expected = F.binary_cross_entropy_with_logits(logits[:, 0], target.float())
    torch.testing.assert_close(BinaryCrossEntropy()(logits, target), expected)  # (N, 1) vs (N,)
    torch.testing.assert_close(BinaryCrossEntropy()(logits[:, 0], target[:, None]), expected)  # (N,) vs (N, 1)
    torch.testing.assert_close(BinaryCrossEntropy()(logits, target.bool()), expected)


def test_binary_cross_entropy_label_smoothing_and_pos_weight():
    logits = torch.randn(5, 3, generator=_gen(9))
    target = torch.randint(0, 2, (5, 3), generator=_gen(10)).float()
    smoothed = target * 0.9 + 0.05
    torch.testing.assert_close(BinaryCrossEntropy(label_smoothing=0.1)(logits, target),
                               F.binary_cross_entropy_with_logits(logits, smoothed))
    weight = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(BinaryCrossEntropy(pos_weight=weight)(logits, target),
                               F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight))
    torch.testing.assert_close(BinaryCrossEntropy(pos_weight=2.0)(logits, target),
                               F.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(2.0)))


@pytest.mark.parametrize("loss, reference", [
    (MeanSquaredError(), F.mse_loss), (MeanAbsoluteError(), F.l1_loss),
    (Huber(delta=0.5), lambda p, t: F.huber_loss(p, t, delta=0.5)),
])
def test_regression_losses_match_torch_without_broadcasting(loss, reference):
    pred = torch.randn(8, 1, generator=_gen(11))
    target = torch.randn(8, generator=_gen(12))
    expected = reference(pred[:, 0], target)
    torch.testing.assert_close(loss(pred, target), expected)  # not the (8, 8) broadcast
    torch.testing.assert_close(loss(pred[:, 0], target[:, None]), expected)
    torch.testing.assert_close(loss(pred[:, 0], target), expected)


def test_huber_closed_form_and_delta_check():
    # |e| <= d: e^2 / 2;  |e| > d: d * (|e| - d / 2)
    loss = Huber(delta=2.0)(torch.tensor([1.0, -5.0]), torch.zeros(2))
    assert float(loss) == pytest.approx((0.5 + 2.0 * (5.0 - 1.0)) / 2)
    with pytest.raises(ValueError, match="delta"):
        Huber(delta=0)


def test_regression_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"prediction shape: got \(4, 2\)"):
        MeanSquaredError()(torch.zeros(4, 2), torch.zeros(4))
    assert align_prediction(torch.zeros(3), torch.zeros(3, 1)).shape == (3, 1)


def test_every_registered_loss_returns_a_differentiable_scalar():
    assert len(LOSSES) >= 5
    pred = torch.randn(4, 3, generator=_gen(13), requires_grad=True)
    for name, factory in LOSSES.items():
        target = torch.tensor([0, 2, 1, 1]) if name == "cross_entropy" else torch.rand(4, 3, generator=_gen(14))
        loss = factory()(pred, target)
        assert loss.ndim == 0, name
        loss.backward()


def test_get_loss_names_aliases_and_kwargs():
    assert isinstance(get_loss("cross_entropy"), CrossEntropy)
    assert isinstance(get_loss("Sparse_Categorical_Crossentropy"), CrossEntropy)
    assert isinstance(get_loss("binary_crossentropy"), BinaryCrossEntropy)
    assert isinstance(get_loss("MSE"), MeanSquaredError)
    assert get_loss("cross_entropy", label_smoothing=0.1).label_smoothing == 0.1
    assert get_loss("huber", delta=3.0).delta == 3.0
    assert set(LOSS_ALIASES.values()) <= set(LOSSES)


def test_get_loss_passes_callables_through_and_builds_classes():
    module = torch.nn.CrossEntropyLoss()
    assert get_loss(module) is module
    fn = lambda p, t: (p - t).abs().mean()  # noqa: E731
    assert get_loss(fn) is fn
    assert isinstance(get_loss(torch.nn.MSELoss), torch.nn.MSELoss)
    assert get_loss(CrossEntropy, label_smoothing=0.2).label_smoothing == 0.2


def test_get_loss_errors():
    with pytest.raises(ValueError, match="did you mean 'cross_entropy'"):
        get_loss("cross_entropie")
    with pytest.raises(TypeError, match="int"):
        get_loss(3)
    with pytest.raises(TypeError, match=r"valid arguments: \['label_smoothing'\]"):
        get_loss("cross_entropy", smoothing=0.1)
    with pytest.raises(ValueError, match="ready-made"):
        get_loss(torch.nn.MSELoss(), reduction="sum")


def test_losses_do_not_synchronise(monkeypatch):
    """No .item(), bool() or float() on a tensor: the proxy on CPU for 'no device sync'."""
    for method in ("item", "__bool__", "__float__", "tolist"):
        monkeypatch.setattr(torch.Tensor, method, lambda *a, **k: pytest.fail("host sync"))
    logits = torch.randn(4, 3, generator=_gen(15))
    CrossEntropy(label_smoothing=0.1)(logits, torch.tensor([0, 1, 2, 0]))
    BinaryCrossEntropy(pos_weight=2.0)(logits[:, :1], torch.tensor([0, 1, 1, 0]))
    Huber()(logits, logits.flip(0))
