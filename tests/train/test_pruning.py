"""Magnitude pruning: exact sparsity, the smallest weights go, pruned weights stay zero."""
import io

import pytest
import torch
from torch import nn

import topnet
from topnet.callbacks import Callback, Pruning
from topnet.train.pruning import apply_masks, prune, pruning_report, sparsity


def model(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        net[2].weight.mul_(0.1)  # one layer of small weights: global and per-layer pruning differ
    return net


def data(n=64):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_reaches_exact_sparsity_and_removes_the_smallest(scope):
    net = model()
    before = {name: w.detach().clone() for name, w in net.named_parameters() if name.endswith("weight")}
    bias = net[0].bias.detach().clone()
    masks = prune(net, 0.7, scope=scope)
    total = sum(w.numel() for w in before.values())
    report = sparsity(net)
    if scope == "layer":
        for name, w in before.items():
            assert report[name] == round(0.7 * w.numel()) / w.numel()
    else:
        assert report["total"] == round(0.7 * total) / total
        assert report["2.weight"] > report["0.weight"]  # the small layer lost more
    pools = [(before, masks)] if scope == "global" else [({n: before[n]}, {n: masks[n]}) for n in before]
    for weights, pool_masks in pools:
        pruned = torch.cat([weights[n].abs()[~pool_masks[n]] for n in weights])
        kept = torch.cat([weights[n].abs()[pool_masks[n]] for n in weights])
        assert pruned.max() <= kept.min()  # every removed weight is smaller than every kept one
    for name, w in before.items():
        torch.testing.assert_close(net.get_parameter(name)[masks[name]], w[masks[name]], rtol=0, atol=0)
    assert torch.equal(net[0].bias, bias)  # biases are not pruned


def test_prune_ties_and_errors():
    layer = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -1.0, 1.0, 2.0]]))
    masks = prune(layer, 0.5)
    assert masks["weight"].tolist() == [[False, False, True, True]]  # ties: the lower index goes first
    for bad in (1.0, -0.1, True):
        with pytest.raises(ValueError):
            prune(layer, bad)
    with pytest.raises(ValueError, match="did you mean 'layer'"):
        prune(layer, 0.5, scope="layers")
    with pytest.raises(ValueError):
        prune(layer, 0.5, modules=(nn.Conv2d,))


def test_pruning_schedule_is_tf_mot_polynomial():
    callback = Pruning(0.8, initial_sparsity=0.2, start_step=10, end_step=110)
    assert callback.target(5, 110) == 0.0
    assert callback.target(10, 110) == pytest.approx(0.2)
    assert callback.target(60, 110) == pytest.approx(0.8 + (0.2 - 0.8) * 0.5 ** 3)
    assert callback.target(110, 110) == pytest.approx(0.8) and callback.target(500, 110) == pytest.approx(0.8)
    with pytest.raises(ValueError):
        Pruning(0.5, start_step=10, end_step=5)
    with pytest.raises(ValueError):
        Pruning(0.5, frequency=0)


class WatchZeros(Callback):
    """After Pruning's on_batch_end: the set of zero weights only grows."""

    def __init__(self):
        self.zero_sets, self.sparsities = [], []

    def on_batch_end(self, state):
        zeros = torch.cat([m.weight.detach().flatten() == 0 for m in state.model if isinstance(m, nn.Linear)])
        if self.zero_sets:
            assert bool((zeros | ~self.zero_sets[-1]).all())  # once pruned, always zero
        self.zero_sets.append(zeros)
        self.sparsities.append(float(zeros.float().mean()))


def test_pruning_callback_ramps_to_the_target_and_pruned_weights_stay_zero():
    net, watch = model(), WatchZeros()
    # Adam with momentum would move pruned weights off zero if the masks were not re-applied.
    topnet.fit(net, data(), epochs=4, batch_size=8, optimizer="adam", lr=0.01, device="cpu", verbose=0,
               callbacks=[Pruning(0.6, start_step=2, end_step=20, frequency=3), watch])
    exact = round(0.6 * 248) / 248  # 248 weights in the three Linear layers
    assert watch.sparsities[0] == 0.0 and watch.sparsities[19] == pytest.approx(exact, rel=1e-6)
    assert watch.sparsities == sorted(watch.sparsities)  # ramps up
    assert len(set(watch.sparsities[:20])) > 3  # in several stages
    assert sparsity(net)["total"] == exact and watch.sparsities[-1] == pytest.approx(exact, rel=1e-6)  # held after


def test_pruned_weights_stay_zero_through_further_training_and_state_round_trips():
    net = model()
    callback = Pruning(0.5, frequency=1)
    topnet.fit(net, data(), epochs=1, batch_size=16, device="cpu", verbose=0, callbacks=[callback])
    buffer = io.BytesIO()
    torch.save(callback.state_dict(), buffer)
    buffer.seek(0)
    fresh = Pruning(0.5, end_step=1000)  # end far away: masks come only from the saved state until then
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    zero_before = [m.weight.detach() == 0 for m in net if isinstance(m, nn.Linear)]
    topnet.fit(net, data(), epochs=2, batch_size=16, optimizer="sgd", lr=0.5, device="cpu", verbose=0,
               callbacks=[fresh], initial_epoch=1)
    for mask, m in zip(zero_before, [m for m in net if isinstance(m, nn.Linear)]):
        assert bool((m.weight[mask] == 0).all())


def test_apply_masks_and_pruning_report():
    net = model()
    x, y = data()
    before = topnet.evaluate(net, (x, y), metrics=["accuracy"], device="cpu")
    masks = prune(net, 0.9, scope="layer")
    with torch.no_grad():
        net[0].weight.add_(1.0)
    apply_masks(net, masks)
    assert sparsity(net)["0.weight"] == pytest.approx(0.9, abs=0.01)
    report = pruning_report(net, (x, y), before, device="cpu")
    assert report.before == before and set(report.change) == {"loss", "accuracy"}
    assert report.change["accuracy"] == report.after["accuracy"] - before["accuracy"]
    assert "sparsity" in str(report)
