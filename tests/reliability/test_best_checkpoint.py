"""Scenario 5: the best checkpoint survives worse epochs, NaN metrics and restarts; retention keeps
the best + the last N + what a resume needs; EarlyStopping's counter is restored on resume."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import topnet
from topnet.callbacks import BackupAndRestore, Callback, EarlyStopping, ModelCheckpoint
from topnet.io import load_weights

NAN = math.nan
# val_loss per epoch: the best is epoch 4 (0.3); NaN and worse values come after it.
VALUES = [0.9, 0.5, NAN, 0.7, 0.3, NAN, 0.8, 0.6, NAN, 0.4]


class Scripted(Callback):
    """Sets val_loss to the scripted value and records the weights of every epoch."""

    def __init__(self):
        self.weights = {}

    def on_epoch_end(self, state):
        state.logs["val_loss"] = VALUES[state.epoch]
        self.weights[state.epoch] = {k: v.clone() for k, v in state.model.state_dict().items()}


class Crash(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


def _fit(tmp_path, checkpoint, *extra, script=None):
    """Fit with the scripted val_loss; returns {epoch: weights} (pass ``script`` to keep them across a restart)."""
    torch.manual_seed(0)
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    model = nn.Linear(3, 2)
    script = script or Scripted()
    topnet.fit(model, (x, (x[:, 0] > 0).long()), epochs=len(VALUES), batch_size=8, seed=0, verbose=0,
               callbacks=[BackupAndRestore(tmp_path / "backup"), script, checkpoint, *extra])
    return script.weights


def _same(path, weights):
    loaded = load_weights(nn.Linear(3, 2), path).state_dict()
    return all(torch.equal(loaded[k], weights[k]) for k in weights)


def test_the_best_survives_worse_epochs_nan_metrics_and_a_restart(tmp_path):
    best = tmp_path / "best.safetensors"

    def checkpoint():
        return ModelCheckpoint(best, save_best_only=True, save_weights_only=True)

    script = Scripted()
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path, checkpoint(), Crash(6), script=script)  # after the best epoch, a NaN and a worse one
    saved = best.read_bytes()
    weights = _fit(tmp_path, checkpoint(), script=script)  # restarts at epoch 6; its best is restored from the backup
    assert best.read_bytes() == saved and _same(best, weights[4])


def test_retention_keeps_the_best_and_the_last_n_across_a_restart(tmp_path):
    def checkpoint():
        return ModelCheckpoint(tmp_path / "e{epoch:02d}.safetensors", save_weights_only=True, keep_last=2)

    script = Scripted()
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path, checkpoint(), Crash(7), script=script)
    assert sorted(p.name for p in tmp_path.glob("e*")) == ["e05.safetensors", "e07.safetensors", "e08.safetensors"]
    weights = _fit(tmp_path, checkpoint(), script=script)
    assert sorted(p.name for p in tmp_path.glob("e*")) == ["e05.safetensors", "e09.safetensors", "e10.safetensors"]
    assert _same(tmp_path / "e05.safetensors", weights[4]) and _same(tmp_path / "e10.safetensors", weights[9])


class BackupFiles(Callback):
    """Records which backup files exist at each epoch end (what a resume would read)."""

    def __init__(self, directory):
        self.directory, self.seen = directory, []

    def on_epoch_end(self, state):
        self.seen.append(sorted(p.name for p in self.directory.iterdir()))


def test_retention_never_removes_what_a_resume_needs(tmp_path):
    files = BackupFiles(tmp_path / "backup")
    _fit(tmp_path, ModelCheckpoint(tmp_path / "e{epoch:02d}.safetensors", save_weights_only=True, keep_last=1), files)
    assert files.seen[0] == ["backup.pt"] and all(seen == ["backup.prev.pt", "backup.pt"] for seen in files.seen[1:])


def test_early_stopping_counter_is_restored_on_resume(tmp_path):
    def stopper():
        return EarlyStopping(monitor="val_loss", patience=4)  # best at epoch 4, NaN never improves: stops at 8

    uninterrupted = _fit(tmp_path / "a", ModelCheckpoint(tmp_path / "a.safetensors", save_weights_only=True), stopper())
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path / "b", ModelCheckpoint(tmp_path / "b.safetensors", save_weights_only=True), stopper(), Crash(6))
    resumed = _fit(tmp_path / "b", ModelCheckpoint(tmp_path / "b.safetensors", save_weights_only=True), stopper())
    assert max(uninterrupted) == 8 and sorted(resumed) == [6, 7, 8]  # a fresh counter would run to epoch 9
