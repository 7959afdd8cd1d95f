"""MC dropout: the cached-trunk path equals a naive loop of full passes; masks act like PyTorch's."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from topnet.uncertainty import MCResult, mc_predict, sampled_dropout
from topnet.uncertainty.mc_dropout import _apply_dropout, _keep_mask, _split_trunk


def geron_mlp(p=0.2):
    """Géron's dropout MLP (dropout at the bottom, so the trunk is only Flatten)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Dropout(p), nn.Linear(784, 300), nn.ELU(), nn.Dropout(p),
                         nn.Linear(300, 100), nn.ELU(), nn.Dropout(p), nn.Linear(100, 10))


def top_dropout_convnet():
    """A conv trunk with BatchNorm and dropout only near the top: the trunk-caching case."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))


def naive_loop(model, x, num_samples, seed=0):
    """Géron's loop, one full forward pass per sample, with the documented masks."""
    with torch.no_grad():
        runs = []
        for s in range(num_samples):
            with sampled_dropout(model, s, seed=seed) as m:
                runs.append(torch.softmax(m(x), dim=1))
    probs = torch.stack(runs)
    mean = probs.mean(0)
    return mean, probs.std(0, correction=0), -(mean * mean.log()).sum(1)


@pytest.mark.parametrize("build, shape", [(geron_mlp, (7, 28, 28)), (top_dropout_convnet, (7, 1, 8, 8))])
def test_fast_path_equals_naive_loop(build, shape):
    model, x = build(), torch.randn(*shape)
    model.train()
    result = mc_predict(model, x, num_samples=12, seed=3, batch_size=3, device="cpu")
    mean, std, entropy = naive_loop(model, x, 12, seed=3)
    for got, want in ((result.mean, mean), (result.std, std), (result.entropy, entropy)):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    full = mc_predict(model, x, num_samples=12, seed=3, batch_size=5, device="cpu", cache_trunk=False)
    torch.testing.assert_close(full.mean, result.mean, atol=1e-6, rtol=0)
    assert model.training  # training flags restored


def test_trunk_split_starts_at_the_first_dropout():
    trunk, head = _split_trunk(top_dropout_convnet())
    assert len(trunk) == 6 and isinstance(head[0], nn.Dropout)
    assert _split_trunk(nn.ModuleDict({"a": nn.Dropout()})) is None


def test_batchnorm_stays_in_eval_mode_and_global_rng_is_untouched():
    model = top_dropout_convnet()
    x = torch.randn(6, 1, 8, 8)
    running = model[1].running_mean.clone()
    rng = torch.get_rng_state()
    mc_predict(model, x, num_samples=4, device="cpu")
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(model[1].running_mean, running)


def test_seed_changes_masks_and_samples_differ():
    model, x = top_dropout_convnet(), torch.randn(5, 1, 8, 8)
    a = mc_predict(model, x, num_samples=8, seed=0, device="cpu", return_samples=True)
    b = mc_predict(model, x, num_samples=8, seed=1, device="cpu")
    assert a.samples.shape == (8, 5, 3) and not torch.equal(a.mean, b.mean)
    assert (a.std > 0).any() and not torch.equal(a.samples[0], a.samples[1])


@pytest.mark.parametrize("cls, shape", [(nn.Dropout, (200, 40)), (nn.AlphaDropout, (200, 40)),
                                        (nn.Dropout2d, (200, 6, 3, 3)), (nn.FeatureAlphaDropout, (200, 6, 3, 3))])
def test_mask_formulas_match_pytorch_train_mode(cls, shape):
    # torch's own output reveals its mask; our formula with that mask must give the same values.
    layer = cls(0.3).train()
    x = torch.rand(*shape) + 5
    out = layer(x)
    dropped = 0.0 if cls in (nn.Dropout, nn.Dropout2d) else float(out.min())
    keep = out != dropped
    torch.testing.assert_close(_apply_dropout(layer, x, keep), out)


def test_hashed_masks_keep_one_minus_p_independently():
    keep = _keep_mask(7, torch.zeros(4000, dtype=torch.long), torch.arange(4000), 64, p=0.25).float()
    assert abs(keep.mean().item() - 0.75) < 0.01
    correlation = torch.corrcoef(keep.T).fill_diagonal_(0).abs().max()
    assert correlation < 0.1


def test_alpha_dropout_mc_preserves_selu_statistics():
    model = nn.Sequential(nn.AlphaDropout(0.2), nn.Linear(50, 50, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(50))  # identity head: the logits are the dropped-out input
    x = torch.randn(400, 50)
    with sampled_dropout(model, 0) as m, torch.no_grad():
        out = m(x)
    assert abs(out.mean().item()) < 0.05 and abs(out.std().item() - 1) < 0.05  # mean 0, std 1 kept
    result = mc_predict(model, x, num_samples=3, return_samples=True, device="cpu", batch_size=64)
    torch.testing.assert_close(result.samples[0], torch.softmax(out, dim=1))


def test_binary_single_logit_uses_sigmoid():
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 1))
    result = mc_predict(model, torch.randn(6, 3), num_samples=5, device="cpu")
    assert isinstance(result, MCResult) and result.mean.shape == (6, 1) and result.entropy.shape == (6,)
    assert ((result.mean > 0) & (result.mean < 1)).all() and (result.entropy <= torch.log(torch.tensor(2.0)) + 1e-6).all()


def test_dict_inputs_use_full_passes():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.drop = nn.Linear(2, 4), nn.Linear(3, 4), nn.Dropout(0.5)

        def forward(self, left, right):
            return self.drop(self.a(left) + self.b(right))

    x = {"left": torch.randn(5, 2), "right": torch.randn(5, 3)}
    result = mc_predict(TwoInputs(), x, num_samples=4, device="cpu", batch_size=2)
    assert result.mean.shape == (5, 4)


def test_bad_arguments_raise_with_the_fix():
    with pytest.raises(ValueError, match="num_samples"):
        mc_predict(geron_mlp(), torch.randn(2, 28, 28), num_samples=0)
    with pytest.raises(ValueError, match="dropout layers"):
        mc_predict(nn.Linear(3, 2), torch.randn(2, 3))
    with pytest.raises(TypeError, match="one tensor of logits"):
        mc_predict(nn.Sequential(nn.Dropout(), nn.Identity()).append(_Pair()), torch.randn(2, 3), device="cpu")


class _Pair(nn.Module):
    def forward(self, x):
        return x, x
