"""MaxNorm bounds each unit's incoming-weight norm after every optimizer step."""
import pytest
import torch
from torch import nn

import topnet
from topnet.callbacks import Callback
from topnet.callbacks.max_norm import MaxNorm


class CheckNorms(Callback):
    """After MaxNorm's on_batch_end (it comes first in the list): every row norm is bounded."""

    def __init__(self, max_value):
        self.max_value, self.checked, self.max_seen = max_value, 0, 0.0

    def on_batch_end(self, state):
        for module in state.model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                norms = module.weight.detach().flatten(1).norm(dim=1)
                assert bool((norms <= self.max_value).all()), norms
                self.max_seen = max(self.max_seen, float(norms.max()))
        self.checked += 1


def test_every_row_norm_bounded_after_each_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    x, y = torch.randn(32, 1, 6, 6), torch.randint(0, 3, (32,))
    check = CheckNorms(0.5)
    topnet.fit(model, (x, y), epochs=2, batch_size=8, optimizer="sgd", lr=2.0, callbacks=[MaxNorm(0.5), check],
               device="cpu", verbose=0)
    assert check.checked == 8 and check.max_seen == pytest.approx(0.5, rel=1e-5)  # the bound was active


def test_rows_within_the_bound_are_untouched_and_matches_closed_form():
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4.0, 0.0], [0.1, 0.2, 0.2]]))  # norms 5 and 0.3
        bias = layer.bias.clone()
    callback = MaxNorm(1.0)
    state = topnet.train.TrainState(model=layer)
    callback.on_fit_begin(state)
    callback.on_batch_end(state)
    torch.testing.assert_close(layer.weight[0], torch.tensor([0.6, 0.8, 0.0]), rtol=1e-6, atol=1e-6)
    assert torch.equal(layer.weight[1], torch.tensor([0.1, 0.2, 0.2]))
    assert torch.equal(layer.bias, bias)


def test_modules_by_name_and_errors():
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    assert MaxNorm(modules=["2"]).weights(model) == [model[2].weight]
    with pytest.raises(ValueError, match="did you mean '2'"):
        MaxNorm(modules=["2."]).weights(model)
    with pytest.raises(ValueError, match=r"names: \['', '0', '1', '2'\]"):
        MaxNorm(modules=["x"]).weights(model)
    with pytest.raises(ValueError):
        MaxNorm(modules=(nn.Conv2d,)).weights(model)
    for bad in (0, -1.0, float("inf"), True):
        with pytest.raises(ValueError):
            MaxNorm(bad)
    with pytest.raises(TypeError):
        MaxNorm(modules="0")
    with pytest.raises(TypeError):
        MaxNorm(modules=(nn.Linear, "0"))
