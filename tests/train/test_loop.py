"""fit / evaluate / predict on tiny synthetic data."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import topnet
from topnet.callbacks import Callback
from topnet.errors import DataError


def blobs(n=256, num_classes=3, dim=4, seed=0):
    centers = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(123)) * 8
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, num_classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, dim, generator=g)
    return x, y


def test_fit_learns_separable_blobs_and_returns_history():
    torch.manual_seed(0)
    x, y = blobs()
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    history = topnet.fit(model, (x, y), validation_data=blobs(seed=1), epochs=5, batch_size=32,
                         metrics=["accuracy"], lr=0.01, verbose=0)
    assert isinstance(history, topnet.History)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert len(history.history["loss"]) == 5
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    logs = topnet.evaluate(model, blobs(seed=1), metrics=["accuracy"])
    assert logs["accuracy"] == pytest.approx(history.history["val_accuracy"][-1])


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses():
    x, y = blobs(n=70)
    model = nn.Linear(4, 3)
    seen = []

    class Record(Callback):
        def on_batch_begin(self, state):
            self.before = {k: v.clone() for k, v in state.model.state_dict().items()}

        def on_after_backward(self, state):
            seen.append(float(state.loss.detach()))

    topnet.fit(model, (x, y), epochs=1, batch_size=32, optimizer="sgd", lr=0.0, callbacks=[Record()], verbose=0,
               device="cpu")  # the model is called on CPU tensors below (also where CUDA is present)
    # lr 0: the weights never change, so the epoch loss equals the full-data loss.
    full = nn.functional.cross_entropy(model(x), y).item()
    assert topnet.evaluate(model, (x, y))["loss"] == pytest.approx(full, rel=1e-5)
    assert len(seen) == 3  # 32 + 32 + 6


class TwoInThreeOut(nn.Module):
    """Two named inputs, three named outputs (regression, 4 classes, binary)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 8)
        self.b = nn.Linear(5, 8)
        self.price = nn.Linear(16, 1)
        self.kind = nn.Linear(16, 4)
        self.flag = nn.Linear(16, 1)

    def forward(self, title, body):
        h = torch.relu(torch.cat([self.a(title), self.b(body)], dim=1))
        return {"price": self.price(h).squeeze(1), "kind": self.kind(h), "flag": self.flag(h).squeeze(1)}


def multi_data(n=128, seed=0):
    rng = np.random.default_rng(seed)
    x = {"title": rng.normal(size=(n, 3)).astype(np.float32), "body": rng.normal(size=(n, 5)).astype(np.float32)}
    y = {"price": (x["title"].sum(1) * 2).astype(np.float32),
         "kind": (x["body"][:, 0] > 0).astype(np.int64) + 2 * (x["title"][:, 0] > 0),
         "flag": (x["body"][:, 1] > 0).astype(np.float32)}
    return x, y


def test_two_inputs_three_outputs_with_loss_weights():
    torch.manual_seed(0)
    model = TwoInThreeOut()
    weights = {"price": 0.25, "kind": 1.0, "flag": 10.0}
    history = topnet.fit(model, multi_data(), validation_data=multi_data(seed=1), epochs=4, batch_size=16,
                         loss={"price": "mse", "kind": "cross_entropy", "flag": "binary_cross_entropy"},
                         loss_weights=weights, metrics={"kind": ["accuracy"], "flag": ["accuracy"]}, verbose=0)
    for key in ("price_loss", "kind_loss", "flag_loss", "val_price_loss", "val_kind_loss", "val_flag_loss",
                "kind_accuracy", "flag_accuracy"):
        assert key in history.history, key
    assert history.history["loss"][-1] < history.history["loss"][0]
    # The logged total is the weighted sum of the per-output losses (on validation: fixed weights).
    total = sum(w * history.history[f"val_{k}_loss"][-1] for k, w in weights.items())
    assert history.history["val_loss"][-1] == pytest.approx(total, rel=1e-5)
    # ... and matches an independent computation with torch.nn.functional.
    x, y = multi_data(seed=1)
    model.eval()
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in x.items()})
    ref = (0.25 * nn.functional.mse_loss(out["price"], torch.from_numpy(y["price"]))
           + nn.functional.cross_entropy(out["kind"], torch.from_numpy(y["kind"]))
           + 10 * nn.functional.binary_cross_entropy_with_logits(out["flag"], torch.from_numpy(y["flag"])))
    assert history.history["val_loss"][-1] == pytest.approx(ref.item(), rel=1e-5)
    pred = topnet.predict(model, x)
    assert set(pred) == {"price", "kind", "flag"} and pred["kind"].shape == (128, 4)


def test_loss_weights_as_a_list_in_output_order():
    history = topnet.fit(TwoInThreeOut(), multi_data(), epochs=1,
                         loss=["mse", "cross_entropy", "binary_cross_entropy"], loss_weights=[0.25, 1, 10], verbose=0)
    assert {"price_loss", "kind_loss", "flag_loss"} <= set(history.history)


def test_splits_train_on_train_and_validate_on_valid():
    from topnet.data import Dataset, Splits

    x, y = blobs(n=64)
    splits = Splits(train=Dataset(x=x.numpy(), y=y.numpy()), valid=Dataset(x=x[:16].numpy(), y=y[:16].numpy()))
    history = topnet.fit(nn.Linear(4, 3), splits, epochs=1, verbose=0)
    assert "val_loss" in history.history


def test_initial_epoch_counts_like_keras():
    history = topnet.fit(nn.Linear(4, 3), blobs(n=32), epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4]


def test_clip_norm_bounds_the_update():
    x, y = blobs(n=32)
    x = x * 1000  # huge gradients
    model = nn.Linear(4, 3)
    before = [p.detach().clone() for p in model.parameters()]
    topnet.fit(model, (x, y), epochs=1, batch_size=32, optimizer="sgd", lr=1.0, clip_norm=0.5, shuffle=False, verbose=0,
               device="cpu")
    change = torch.sqrt(sum(((p - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert change.item() == pytest.approx(0.5, rel=1e-4)


def test_clip_value_bounds_each_element():
    x, y = blobs(n=32)
    model = nn.Linear(4, 3)
    before = [p.detach().clone() for p in model.parameters()]
    topnet.fit(model, (x * 1000, y), epochs=1, batch_size=32, optimizer="sgd", lr=1.0, clip_value=0.01, verbose=0)
    for p, b in zip(model.parameters(), before):
        assert (p - b).abs().max().item() <= 0.01 + 1e-6


def test_same_seed_same_weights_different_seed_different_order():
    def run(seed):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.Linear(8, 3))
        topnet.fit(model, blobs(n=96), epochs=2, batch_size=16, seed=seed, verbose=0)
        return torch.cat([p.flatten() for p in model.parameters()])

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


@pytest.mark.parametrize("kwargs, message", [
    ({"loss": "crossentropy"}, "did you mean 'cross_entropy'"),
    ({"optimizer": "adamm"}, "did you mean 'adam'"),
    ({"metrics": ["acuracy"]}, "did you mean 'accuracy'"),
])
def test_unknown_names_list_the_valid_ones_and_the_nearest(kwargs, message):
    with pytest.raises(ValueError, match=message):
        topnet.fit(nn.Linear(4, 3), blobs(n=8), verbose=0, **kwargs)


def test_labels_out_of_range_are_reported_before_training():
    x, y = blobs(n=20)
    y[7] = 5
    model = nn.Linear(4, 3)
    before = model.weight.detach().clone()
    with pytest.raises(DataError, match=r"label 5 \(row 7\).*\[0, 2\]"):
        topnet.fit(model, (x, y), epochs=1, verbose=0, device="cpu")
    assert torch.equal(model.weight, before)


def test_nan_inputs_are_reported_with_the_row():
    x, y = blobs(n=20)
    x[11, 2] = float("nan")
    with pytest.raises(DataError, match="row 11"):
        topnet.fit(nn.Linear(4, 3), (x, y), verbose=0)


def test_nan_in_validation_data_is_reported():
    vx, vy = blobs(n=10)
    vx[3, 0] = float("inf")
    with pytest.raises(DataError, match="validation"):
        topnet.fit(nn.Linear(4, 3), blobs(n=20), validation_data=(vx, vy), verbose=0)


def test_shape_mismatch_names_the_input_shape():
    with pytest.raises(DataError, match=r"\(4,\)"):
        topnet.fit(nn.Linear(7, 3), blobs(n=20), verbose=0)


def test_output_target_shape_mismatch_is_reported():
    x, _ = blobs(n=20)
    with pytest.raises(DataError):
        topnet.fit(nn.Linear(4, 3), (x, torch.randn(20)), loss="mse", verbose=0)


def test_empty_and_mismatched_datasets():
    with pytest.raises(DataError, match="0 samples"):
        topnet.fit(nn.Linear(4, 3), (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)), verbose=0)
    with pytest.raises(DataError, match="lengths"):
        topnet.fit(nn.Linear(4, 3), (torch.zeros(5, 4), torch.zeros(6, dtype=torch.long)), verbose=0)


def test_bad_data_type_is_a_type_error():
    with pytest.raises(TypeError, match=r"\(x, y\) pair"):
        topnet.fit(nn.Linear(4, 3), torch.zeros(5, 4), verbose=0)


def test_predict_batches_and_restores_train_mode():
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    model.train()
    x = torch.randn(300, 4)
    out = topnet.predict(model, x, batch_size=64, device="cpu")
    assert model.training
    assert torch.allclose(out, model[0](x), atol=1e-6)  # eval mode: dropout off


def test_bf16_autocast_trains_on_cpu():
    history = topnet.fit(nn.Linear(4, 3), blobs(n=64), epochs=1, precision="bf16", verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="precision"):
        topnet.fit(nn.Linear(4, 3), blobs(n=8), precision="fp8", verbose=0)


def test_augment_is_applied_to_training_batches_only():
    calls = []

    def augment(xb, generator):
        calls.append(len(xb))
        return xb + torch.randn(xb.shape, generator=generator) * 0.0

    topnet.fit(nn.Linear(4, 3), blobs(n=40), validation_data=blobs(n=10), epochs=1, batch_size=16, augment=augment, verbose=0)
    assert calls == [16, 16, 8]


def test_penalty_is_added_to_the_training_loss_only():
    x, y = blobs(n=32)
    model = nn.Linear(4, 3)
    l2 = lambda m: 0.5 * (m.weight ** 2).sum()  # noqa: E731
    history = topnet.fit(model, (x, y), validation_data=(x, y), epochs=1, batch_size=32, optimizer="sgd", lr=0.0,
                         penalty=l2, verbose=0)
    expected = l2(model).item()
    assert history.history["penalty"][0] == pytest.approx(expected, rel=1e-5)
    assert history.history["loss"][0] == pytest.approx(history.history["val_loss"][0] + expected, rel=1e-5)


def test_the_finite_check_accepts_huge_finite_inputs_and_refuses_every_nan_or_inf():
    # the check sums each tensor first; a sum that overflows must fall back to the exact check
    # and pass, and bad values that cancel in the sum (+inf and -inf) must still be found
    x, y = blobs(n=16)
    huge = x.clone()
    huge[:, 0] = 3e38  # finite, but the column sums to inf in float32
    assert not torch.isfinite(huge.sum())
    topnet.fit(nn.Linear(4, 3), (huge, y), epochs=1, lr=0.0, verbose=0)
    for row, values in ((5, [float("inf"), float("-inf")]), (2, [float("nan")]), (7, [float("-inf")])):
        bad = x.clone()
        bad[row, :len(values)] = torch.tensor(values)
        with pytest.raises(DataError, match=rf"NaN/inf values in 1 samples \(first at row {row}\)"):
            topnet.fit(nn.Linear(4, 3), (bad, y), epochs=1, verbose=0)
