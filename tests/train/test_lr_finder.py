"""lr_find on a tiny synthetic problem: the curve falls then diverges, the model is untouched."""
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

from topnet.train.lr_finder import RULES, LRFinderResult, lr_find, suggest


def problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(512, 10, generator=g)
    y = (x @ torch.randn(10, 3, generator=g)).argmax(1)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(10, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 3))
    return model, (x, y)


@pytest.fixture(scope="module")
def sweep():
    model, data = problem()
    return lr_find(model, data, optimizer="adam", start_lr=1e-5, end_lr=100.0, num_steps=100, device="cpu")


def test_curve_falls_then_diverges_and_the_sweep_stops_early(sweep):
    n = len(sweep.lrs)
    assert sweep.diverged and 20 < n < 100  # stopped before the last rate
    assert len(sweep.losses) == len(sweep.smoothed_losses) == n
    assert np.allclose(np.diff(np.log(sweep.lrs)), math.log(1e7) / 99)  # exponential sweep, one rate per step
    smoothed = sweep.smoothed_losses
    best = min(smoothed[:-1])
    assert best < 0.85 * smoothed[0]  # it fell ...
    assert smoothed[-1] > 4 * best  # ... and blew up at the end, where the sweep stopped
    assert all(s <= 4 * min(smoothed[:i + 1]) for i, s in enumerate(smoothed[:-1]))


def test_smoothing_is_a_bias_corrected_moving_average(sweep):
    average, expected = 0.0, []
    for step, loss in enumerate(sweep.losses):
        average = 0.98 * average + 0.02 * loss
        expected.append(average / (1 - 0.98 ** (step + 1)))
    assert sweep.smoothed_losses == pytest.approx(expected, rel=1e-12)
    assert sweep.smoothed_losses[0] == pytest.approx(sweep.losses[0])


def test_suggestions_lie_in_the_swept_range_and_verdict(sweep):
    assert set(sweep.suggestions) == set(RULES) and sweep.rule == "valley"
    assert sweep.suggestion == sweep.suggestions["valley"]
    for lr in sweep.suggestions.values():
        assert sweep.lrs[0] <= lr <= sweep.lrs[-1]
    lowest = sweep.lrs[int(np.argmin(sweep.smoothed_losses))]
    assert sweep.suggestions["valley"] < lowest and sweep.suggestions["steepest"] <= lowest
    assert sweep.spread_decades >= 0 and isinstance(sweep.verdict, str)


def test_model_optimizer_and_rng_are_restored_bit_for_bit():
    model, data = problem()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(data[0][:8]).sum().backward()
    optimizer.step()  # give the optimizer some state to restore
    model.eval()
    weights = {k: v.clone() for k, v in model.state_dict().items()}  # BN running stats included
    optimizer_state = {k: {n: t.clone() for n, t in v.items()} for k, v in optimizer.state_dict()["state"].items()}
    rng = torch.get_rng_state()
    result = lr_find(model, data, optimizer=optimizer, start_lr=1e-4, end_lr=10.0, num_steps=30, device="cpu")
    assert len(result.lrs) > 0
    for key, value in weights.items():
        assert torch.equal(model.state_dict()[key], value), key
    for key, value in optimizer.state_dict()["state"].items():
        assert all(torch.equal(value[n], optimizer_state[key][n]) for n in value)
    assert optimizer.param_groups[0]["lr"] == 1e-3 and not model.training
    assert torch.equal(torch.get_rng_state(), rng)  # dropout draws did not move torch's generator


def test_rules_on_a_closed_form_curve():
    lrs = np.logspace(-6, 0, 121)
    loss = 2.0 - 1.0 / (1.0 + np.exp(-3 * (np.log10(lrs) + 3)))  # falls fastest at 1e-3, flat after
    loss = np.where(lrs > 1e-1, loss + (np.log10(lrs) + 1) ** 2, loss)  # ... blows up past 0.1
    out = suggest(lrs, loss)
    assert out["steepest"] == pytest.approx(1e-3, rel=0.13)
    lowest = lrs[np.argmin(loss)]
    assert out["minimum"] == pytest.approx(lowest / 10)
    assert 1e-3 < out["descent_end"] < lowest  # still falling at least half as fast as at 1e-3
    assert lrs[0] <= out["valley"] < lowest


def test_verdict_words():
    def result(values):
        return LRFinderResult(lrs=list(np.logspace(-5, 0, 50)), losses=[1.0] * 50, smoothed_losses=[1.0] * 50,
                              suggestions=dict(zip(RULES, values)))
    agree = result([1e-2, 1.5e-2, 2e-2, 1.0])  # descent_end is not counted
    assert agree.spread_decades == pytest.approx(math.log10(2)) and "agree within 0.3 decades: trust" in agree.verdict
    disagree = result([1e-3, 3e-2, 1e-2, 1e-1])
    assert "disagree by 1.5 decades: pick by a short grid" in disagree.verdict


def test_plot_writes_a_file_and_missing_matplotlib_says_how_to_install(sweep, tmp_path, monkeypatch):
    figure = sweep.plot(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").stat().st_size > 1000
    import matplotlib.pyplot as plt
    plt.close(figure)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        sweep.plot()


@pytest.mark.parametrize("kwargs", [{"start_lr": 0}, {"end_lr": 1e-8}, {"num_steps": 5}, {"smoothing": 1.0},
                                    {"diverge_factor": 1.0}, {"num_steps": True}])
def test_bad_arguments(kwargs):
    model, data = problem()
    with pytest.raises(ValueError):
        lr_find(model, data, **kwargs)
