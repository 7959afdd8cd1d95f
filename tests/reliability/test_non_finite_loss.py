"""Scenario 6: a NaN or inf loss stops training (or raises, by policy) at that step, naming epoch
and step; no checkpoint written after it holds non-finite weights; the earlier ones remain."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import topnet
from topnet.callbacks import BackupAndRestore, ModelCheckpoint, TerminateOnNaN
from topnet.errors import NonFiniteError
from topnet.io import load_weights
from reliability_helpers import read_backup

BAD_STEP = 25  # 10 batches per epoch: the 5th batch of epoch 2 (0-based) makes the 25th step


class BlowUp(nn.Module):
    """Multiplies the logits by ``factor`` (inf or NaN) on the BAD_STEP-th training forward pass."""

    def __init__(self, factor):
        super().__init__()
        self.factor, self.calls = factor, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == BAD_STEP:
                return x * self.factor
        return x


def _fit(tmp_path, factor, *callbacks):
    torch.manual_seed(0)
    x = torch.randn(80, 4, generator=torch.Generator().manual_seed(0))
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2), BlowUp(factor))
    checkpoints = ModelCheckpoint(tmp_path / "e{epoch:02d}.safetensors", monitor="loss", save_weights_only=True)
    topnet.fit(model, (x, (x[:, 0] > 0).long()), epochs=5, batch_size=8, seed=0, verbose=0,
               callbacks=[BackupAndRestore(tmp_path / "backup"), checkpoints, *callbacks])
    return model


def _assert_only_finite_checkpoints_from_before(tmp_path):
    assert sorted(p.name for p in tmp_path.glob("e*")) == ["e01.safetensors", "e02.safetensors"]
    for name in ("backup.pt", "backup.prev.pt"):  # the backups of epochs 1 and 2, kept at the end
        assert all(torch.isfinite(v).all() for v in read_backup(tmp_path / "backup" / name)["model"].values())
    for path in tmp_path.glob("e*"):
        weights = load_weights(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), path)
        assert all(torch.isfinite(p).all() for p in weights.parameters())
    backups = sorted(p.name for p in (tmp_path / "backup").iterdir())
    assert backups == ["backup.prev.pt", "backup.pt"]  # kept (Keras deletes them on a NaN stop)
    resumed = _fit(tmp_path, 1.0, TerminateOnNaN())  # e.g. with a smaller learning rate: from the last good backup
    assert all(torch.isfinite(p).all() for p in resumed.parameters()) and len(list(tmp_path.glob("e*"))) == 5


@pytest.mark.parametrize("factor", [float("nan"), float("inf")])
def test_an_invalid_loss_stops_at_its_step_and_keeps_the_checkpoints_before_it(tmp_path, factor):
    stop = TerminateOnNaN()
    with pytest.warns(RuntimeWarning) as warned:
        _fit(tmp_path, factor, stop)
    assert (stop.stopped_epoch, stop.stopped_batch, stop.stopped_step) == (2, 4, BAD_STEP)
    assert any("Epoch 3, batch 4 (step 25): invalid loss" in str(w.message) for w in warned)
    assert any("not saving" in str(w.message) for w in warned)  # epoch 3's end came with NaN weights
    _assert_only_finite_checkpoints_from_before(tmp_path)


def test_by_policy_an_invalid_loss_raises_naming_epoch_and_step(tmp_path):
    with pytest.raises(NonFiniteError, match=r"Epoch 3, batch 4 \(step 25\)"):
        _fit(tmp_path, float("nan"), TerminateOnNaN(raise_error=True))
    _assert_only_finite_checkpoints_from_before(tmp_path)


def test_without_terminate_on_nan_no_checkpoint_holds_non_finite_weights(tmp_path):
    with pytest.warns(RuntimeWarning, match="non-finite"):
        model = _fit(tmp_path, float("nan"))
    assert not all(torch.isfinite(p).all() for p in model.parameters())  # the run went on, diverged
    assert sorted(p.name for p in tmp_path.glob("e*")) == ["e01.safetensors", "e02.safetensors"]
    for name in ("backup.pt", "backup.prev.pt"):  # the backups of epochs 1 and 2, kept at the end
        assert all(torch.isfinite(v).all() for v in read_backup(tmp_path / "backup" / name)["model"].values())
